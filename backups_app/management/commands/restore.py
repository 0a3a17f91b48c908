"""`manage.py restore`: restore a backup into a database (a new one unless told otherwise)."""

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
    waiting_reporter,
)
from backups_app.models import BackupRecord, JobStatus
from backups_app.services.jobs import placement, stopping
from backups_app.services.postgres import names
from backups_app.services.restores import restore
from backups_app.services.targets.lookup import UnknownTarget, get_target


class Command(ConsoleCommand):
    help = _("Restore a backup into a new database (default), an empty one, or over an existing one.")
    requires_system_checks = OPERATIONAL_CHECKS

    def add_arguments(self, parser):
        parser.add_argument("backup_id", type=int, help=_("the backup's id (see backup --list)"))
        parser.add_argument("--into", required=True, metavar="DBNAME", help=_("database to restore into"))
        parser.add_argument("--table", action="extend", nargs="+", default=[], metavar="SCHEMA.TABLE",
                            help=_("restore only these tables, with their indexes, constraints and triggers"))
        parser.add_argument("--overwrite", action="store_true",
                            help=_("replace an existing database that holds objects (a safety backup is taken first)"))
        parser.add_argument("--terminate-connections", action="store_true",
                            help=_("when overwriting a TimescaleDB database: end the sessions still connected to it "
                                 "(otherwise the restore is refused while any are)"))
        parser.add_argument("--jobs", type=int, default=1,
                            help=_("parallel pg_restore jobs, 1 to 64 (custom format, new database)"))
        parser.add_argument("--with-globals", action="store_true",
                            help=_("first create the roles and tablespaces saved with the backup"))
        parser.add_argument("--force", action="store_true", help=_("restore even if the file failed its checks"))
        parser.add_argument("--target", default=None,
                            help=_("target whose server receives the restore (default: the backup's own)"))
        parser.add_argument("--no-owner", action="store_true", default=None,
                            help=_("objects belong to the restoring user (default when it is not a superuser)"))
        parser.add_argument("--no-acl", action="store_true", default=None,
                            help=_("leave out grants (default when the restoring user is not a superuser)"))

    def handle(self, *args, **opts):
        in_range(opts["backup_id"], "BACKUP_ID", 1, MAX_ID)
        recover_first(self, opts["verbosity"])
        backup = BackupRecord.objects.select_related("target").filter(pk=opts["backup_id"]).first()
        if backup is None:
            raise CommandError(f"no backup #{opts['backup_id']} (see manage.py backup --list)")
        if elsewhere := placement.refusal(backup, doing="restore", reading=True):
            raise CommandError(f"restore refused: {elsewhere}")
        try:
            check_names(opts)
            server = get_target(opts["target"]) if opts["target"] else None
            record = restore.restore_create(
                backup=backup, into=opts["into"], tables=opts["table"], overwrite=opts["overwrite"],
                with_globals=opts["with_globals"], jobs=opts["jobs"], force=opts["force"], server=server,
                no_owner=opts["no_owner"], no_acl=opts["no_acl"], started_by="command line",
                terminate_connections=opts["terminate_connections"],
            )
        except (names.BadName, UnknownTarget, restore.RestoreRefused) as exc:
            raise CommandError(f"restore refused: {one_line(str(exc))}") from None
        with quiet_log(opts["verbosity"]):
            record = stopping.run_here(restore.restore_execute, record, on_wait=waiting_reporter(self))
        if record.status != JobStatus.SUCCEEDED:
            raise CommandError(f"restore #{record.pk} failed: {one_line(record.error)}")
        for note in record.detail.splitlines():
            self.stdout.write(note)
        rows = f", {record.rows_restored} rows" if record.rows_restored is not None else ""
        return (f"restored backup #{backup.pk} into {record.server_address} in "
                f"{record.duration_seconds:.1f}s{rows} (restore #{record.pk})")


def check_names(opts) -> None:
    """The names' rules, before any connection is made (the service applies the same ones again)."""
    names.check_database(opts["into"].strip())
    for table in opts["table"]:
        if table.strip():
            names.parse_table(table)
