"""`manage.py qcluster`: django-q2's worker cluster, stopped within seconds by SIGTERM or SIGINT.

Replaces django-q2's own command (this app comes before django_q in
INSTALLED_APPS), whose signal handler can hang for ever when the signal
reaches the whole process group; see services/jobs/qcluster.py.
"""

import os

from django.conf import settings
from django.core.management.base import CommandError
from django_q.management.commands import qcluster

from backups_app.management.cli import CommandLineManners
from backups_app.services.jobs.qcluster import GuardedCluster
from backups_app.services.targets import lookup


class Command(CommandLineManners, qcluster.Command):
    help = "Run the job worker (django-q2 cluster); SIGTERM or Ctrl-C stops it, interrupting running jobs."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--grace", type=float, default=0,
                            help="seconds running jobs may take to finish when stopping, before they are "
                                 "interrupted and end failed (default 0; a second signal interrupts at once)")

    def handle(self, *args, **options):
        if not 0 <= options["grace"] <= 24 * 3600:
            raise CommandError("--grace must be between 0 and 86400 seconds")
        settings.SECRET_KEY  # noqa: B018  (as django-q2's command: signing needs it, so fail now if unset)
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        lookup.sync_default()
        GuardedCluster(grace=options["grace"]).run(run_once=options.get("run_once", False))
