"""`manage.py default_target`: the server the default target names and the one DB_* name here.

With --adopt-environment the operator says DB_* here are right: the target
then names their server (services/targets/agreement.py has the rules).
"""

from django.core.management.base import CommandError, no_translations
from django.utils.translation import gettext_lazy as _

from backups_app.management.cli import READING_CHECKS, ConsoleCommand, quiet_log
from backups_app.services.targets import agreement


class Command(ConsoleCommand):
    help = _("Show the server the default target names and the one DB_* name here; --adopt-environment "
             "makes the target name the server of DB_*.")
    requires_system_checks = READING_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("--adopt-environment", action="store_true",
                            help=_("the DB_* here are right: the default target names their server from now on"))

    @no_translations  # the command line speaks English, like the other commands cron and scripts run
    def handle(self, *args, **opts):
        if opts["adopt_environment"]:
            try:
                with quiet_log(opts["verbosity"]):  # the log's line says the same as the summary
                    return agreement.adopt()
            except agreement.Disagreement as exc:
                raise CommandError(str(exc)) from None
        lines = agreement.status_lines()
        for line in lines[:-1]:
            self.stdout.write(line)
        return lines[-1]
