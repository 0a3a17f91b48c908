"""Where backup files live: the original script's layout under BACKUP_ROOT.

    BACKUP_ROOT/database/{manual,daily,weekly,monthly}/
    BACKUP_ROOT/database/backup_log.txt
"""

import os
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from backups_app.services.storage import files

FORMAT_SUFFIX = {"custom": ".dump", "sql.gzip": ".sql.gz", "sql.zstd": ".sql.zst", "directory": ".dir"}
# Formats pg_restore reads (a custom archive is one file, a directory one a folder).
ARCHIVE_FORMATS = ("custom", "directory")
PARTIAL_MARK = ".partial-"


def root() -> Path:
    return Path(settings.BACKUP_ROOT)


def database_dir() -> Path:
    return root() / "database"


def type_dir(backup_type: str) -> Path:
    return database_dir() / backup_type


def log_path() -> Path:
    return database_dir() / "backup_log.txt"


def ensure_dir(path: Path) -> Path:
    """Create path (and parents under BACKUP_ROOT) readable by the owner only."""
    missing = [p for p in [path, *path.parents] if not p.exists()]
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    for p in reversed(missing):
        files.fsync_dir(p.parent)  # a new folder survives a crash like the files published in it
    for p in [path, *path.parents]:
        if p == root().parent:
            break
        if p.exists() and (p.stat().st_mode & 0o777) != 0o700 and is_inside_root(p):
            p.chmod(0o700)
    return path


def is_inside_root(path: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root()))
    except ValueError:
        return False
    return True


def absolute(relative_path: str) -> Path:
    return root() / relative_path


def relative(path: Path) -> str:
    return str(Path(path).relative_to(root()))


def backup_filename(*, dbname: str, backup_type: str, suffix: str, record_id: int, when=None) -> str:
    """Sortable, self-describing and unique (the record id ends the stem)."""
    when = timezone.localtime(when or timezone.now())
    return f"{safe_name(dbname)}_{backup_type}_{when:%Y%m%d_%H%M%S}_{record_id}{suffix}"


def safe_name(dbname: str) -> str:
    """A database's name as a file name starts with it."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in dbname)


def partial_path(final: Path, record_id: int) -> Path:
    """The temporary name a file has until it is complete (hidden, same folder)."""
    return final.with_name(f".{final.name}{PARTIAL_MARK}{record_id}")


def partial_files(record_id: int | None = None):
    """Leftover temporary files, e.g. from a killed worker."""
    pattern = f".*{PARTIAL_MARK}{record_id if record_id is not None else '*'}"
    if not database_dir().exists():
        return []
    return sorted(database_dir().glob(f"*/{pattern}"))
