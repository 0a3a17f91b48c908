"""backup_log.txt: one line per backup attempt, as the original script kept it. No secrets."""

import os

from django.utils import timezone

from backups_app.services.postgres.scrub import scrub
from backups_app.services.storage import layout


def append(record, *, secrets=(), note: str = "") -> None:
    """note: what else the attempt did worth saying (files a directory backup could not share)."""
    path = layout.log_path()
    layout.ensure_dir(path.parent)
    size_mb = (record.size_bytes or 0) / (1024 * 1024)
    line = (
        f"{timezone.localtime(timezone.now()).isoformat(timespec='seconds')}"
        f" target={record.target.name} type={record.backup_type} format={record.format}"
        f" file={record.path or '-'} size_mb={size_mb:.2f}"
        f" duration_s={record.duration_seconds or 0:.1f} result={record.status}"
    )
    if getattr(record, "bytes_added", None) is not None and record.format == "directory":
        line += f" added_mb={record.bytes_added / (1024 * 1024):.2f}"
    if note:
        line += " note=" + " ".join(note.split())[:300]
    if record.error:
        line += " error=" + " ".join(record.error.split())[:300]
    line = scrub(line, secrets) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())  # one write: lines from parallel jobs never interleave
    finally:
        os.close(fd)
