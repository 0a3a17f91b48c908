"""`manage.py verify`: check a backup's checksum and that it reads to the end; --drill restores it too."""

from django.core.management.base import CommandError
from django.utils.translation import gettext_lazy as _

from backups_app.management.cli import (
    MAX_ID,
    OPERATIONAL_CHECKS,
    ConsoleCommand,
    in_range,
    one_line,
    quiet_log,
    recover_first,
)
from backups_app.models import BackupRecord, BackupStatus
from backups_app.services.jobs import placement, stopping
from backups_app.services.targets import agreement
from backups_app.services.targets.lookup import UnknownTarget, get_target
from backups_app.services.verify import verify


class Command(ConsoleCommand):
    help = _("Verify a backup (checksum, archive readable); --drill also restores it into a scratch database.")
    requires_system_checks = OPERATIONAL_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int, nargs="?", help=_("the backup's id (see backup --list)"))
        parser.add_argument("--latest", action="store_true", help=_("the newest succeeded backup of the target"))
        parser.add_argument("--target", default=None, help=_("with --latest: target name (default: the DB_* target)"))
        parser.add_argument("--drill", action="store_true",
                            help=_("restore into a scratch database, check every table, drop it"))

    def handle(self, *args, **opts):
        recover_first(self, opts["verbosity"])
        backup = self.choose(opts)
        if elsewhere := placement.refusal(backup, doing="verify", reading=True):
            raise CommandError(elsewhere)
        if not opts["drill"] and (note := agreement.warning(backup.target)):
            self.stderr.write(note)  # reading the file goes on; a drill would be refused
        try:
            record = verify.verify_create(backup=backup, drill=opts["drill"], started_by="command line")
        except verify.VerifyRefused as exc:
            raise CommandError(str(exc)) from None
        with quiet_log(opts["verbosity"]):
            record = stopping.run_here(verify.verify_execute, record)
        if not record.ok:
            raise CommandError(f"backup #{backup.pk} failed verification: {one_line(record.error)}")
        self.stdout.write(record.detail)
        source = backup.server_address or f"target {backup.target.name}"
        return f"backup #{backup.pk} of {source} verified in {record.duration_seconds:.1f}s (verification #{record.pk})"

    def choose(self, opts) -> BackupRecord:
        in_range(opts["backup_id"], "BACKUP_ID", 1, MAX_ID)
        if (opts["backup_id"] is None) == (not opts["latest"]):
            raise CommandError("give either a BACKUP_ID or --latest")
        if opts["backup_id"] is not None:
            backup = BackupRecord.objects.select_related("target").filter(pk=opts["backup_id"]).first()
            if backup is None:
                raise CommandError(f"no backup #{opts['backup_id']} (see manage.py backup --list)")
            return backup
        try:
            target = get_target(opts["target"] or "default")
        except UnknownTarget as exc:
            raise CommandError(str(exc)) from None
        succeeded = BackupRecord.objects.filter(target=target, status=BackupStatus.SUCCEEDED)
        backup = succeeded.order_by("-created_at", "-id").first()
        if backup is None:
            raise CommandError(f"target {target.name} has no succeeded backup to verify")
        return backup
