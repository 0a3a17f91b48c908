"""Checks made before a byte is written, so a doomed backup fails in seconds, not hours."""

import shutil

from humanize import naturalsize


class NoSpace(Exception):
    pass


def estimate_size(*, target, fmt: str, database_size: int) -> tuple[int, str]:
    """The last backup of this target and format, else a tenth of the database size.

    A compressed logical dump holds no index data and is typically a tenth to a
    third of pg_database_size, so a tenth is the smallest plausible size:
    refusing below it only stops backups that clearly cannot fit.
    """
    from backups_app.models import BackupRecord, BackupStatus

    last = (
        BackupRecord.objects.filter(target=target, format=fmt, status=BackupStatus.SUCCEEDED, size_bytes__isnull=False)
        .order_by("-created_at")
        .values_list("size_bytes", flat=True)
        .first()
    )
    if last:
        return last, "the last backup's size"
    return database_size // 10, "a tenth of the database size"


def check_free_space(*, target, fmt: str, folder, database_size: int) -> None:
    need, basis = estimate_size(target=target, fmt=fmt, database_size=database_size)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise NoSpace(
            f"not enough free space in {folder}: {naturalsize(free, binary=True)} free, "
            f"about {naturalsize(need, binary=True)} needed ({basis})"
        )
