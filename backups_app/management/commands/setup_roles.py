"""`manage.py setup_roles`: create or correct the console's roles (idempotent)."""

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from backups_app.management.cli import ConsoleCommand
from backups_app.services.setup import roles


class Command(ConsoleCommand):
    help = _("Create the console's roles (groups) or correct their permissions; safe to run again.")

    def handle(self, *args, **opts):
        try:
            changes = roles.setup_roles()
        except roles.MissingPermissions as exc:
            raise CommandError(str(exc)) from None
        for change in changes:
            if change.created or change.added or change.removed:
                self.stdout.write(self._describe(change))
        return roles.summary(changes)

    def _describe(self, change) -> str:
        parts = ["created" if change.created else "corrected"]
        if change.added and not change.created:
            parts.append("added " + ", ".join(change.added))
        if change.removed:
            parts.append("removed " + ", ".join(change.removed))
        return f"{change.role}: " + "; ".join(parts)
