"""`manage.py sync_schedules`: recreate django-q2's Schedule rows from the console's schedules (after a deploy)."""

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from backups_app.management.cli import ConsoleCommand
from backups_app.services.jobs import schedules


class Command(ConsoleCommand):
    help = _("Make django-q2's schedules match the console's backup schedules. Safe to run again.")

    def handle(self, *args, **opts):
        counts = schedules.sync_all()
        summary = ", ".join(f"{n} {what}" for what, n in counts.items())
        if counts["refused"]:
            raise CommandError(f"some schedules could not be scheduled (see the log above): {summary}")
        return f"Backup schedules in sync: {summary}"
