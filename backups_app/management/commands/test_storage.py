"""`manage.py test_storage [NAME ...]`: write, read back and delete a small object in each backup storage."""

from django.core.management.base import CommandError, no_translations
from django.utils.translation import gettext_lazy as _

from backups_app.management.cli import ConsoleCommand
from backups_app.models import BackupStorage, StorageKind
from backups_app.services.storage import probe


class Command(ConsoleCommand):
    help = _("Test backup storages before a backup needs them: write, read back and delete a small object; "
             "one line each, non-zero exit when one fails.")

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", metavar="NAME",
                            help=_("storage names (default: every storage that backups are copied to)"))

    @no_translations
    def handle(self, *args, **opts):
        storages = self.choose(opts["names"])
        results = [probe.test_storage(storage) for storage in storages]
        for result in results:
            (self.stdout if result.ok else self.stderr).write(result.line)
        failed = [r for r in results if not r.ok]
        if failed:
            raise CommandError(f"{len(failed)} of {len(results)} storages failed the test")
        return ""

    def choose(self, names: list[str]) -> list[BackupStorage]:
        if not names:
            storages = list(BackupStorage.objects.exclude(kind=StorageKind.LOCAL).order_by("name"))
            if not storages:
                raise CommandError("there is no offsite storage to test (admin: Backup storages)")
            return storages
        found = {s.name: s for s in BackupStorage.objects.filter(name__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            known = ", ".join(BackupStorage.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no backup storage named {', '.join(unknown)} (there are: {known})")
        return [found[n] for n in names]
