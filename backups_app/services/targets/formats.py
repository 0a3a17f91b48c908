"""The format a backup asked for in the browser starts with: directory for TimescaleDB, custom otherwise.

A TimescaleDB database keeps each chunk in a table of its own, and old
chunks do not change: a directory-format backup dumps them several at once
and stores (and uploads) only the changed ones, 2-3% of a full backup a day
instead of all of it (docs/benchmarks.md), encrypted or not. So the "Back
up now" form and button choose it for a target whose last good backup had
TimescaleDB. The command line keeps custom as its default: scripts and cron
jobs written for it expect one file (the stable command-line contract), and
a folder is not one file to download; `--format directory` asks for it.
"""

from backups_app.models import BackupFormat, BackupRecord, BackupStatus

TIMESCALEDB = "timescaledb"  # as restores/timescale.py names it (targets do not import restores: they import us)


def has_timescaledb(target) -> bool:
    """As far as its newest good backup knows (a target not yet backed up: not known, so no)."""
    extensions = BackupRecord.objects.filter(target=target, status=BackupStatus.SUCCEEDED).order_by(
        "-created_at", "-id").values_list("extensions", flat=True).first()
    return TIMESCALEDB in (extensions or {})


def suggested(targets) -> str:
    """directory when every target (none a whole server) holds TimescaleDB, else custom."""
    targets = list(targets)
    if targets and all(not t.is_server and has_timescaledb(t) for t in targets):
        return BackupFormat.DIRECTORY
    return BackupFormat.CUSTOM
