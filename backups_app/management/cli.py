"""Small things the restore and verify commands share."""

import contextlib
import logging

from django.core.checks import Tags

# The system checks the operational commands (backup, restore, verify) run before they start: the
# console's own (pg_dump found, BACKUP_ROOT writable) and the models'. The admin's and the URLs'
# are for the web process; `manage.py check` runs them all.
OPERATIONAL_CHECKS = [Tags.compatibility, Tags.models]


def one_line(text: str) -> str:
    """A multi-line error (pg_restore's own lines) as the one line a command prints."""
    return " | ".join(line.strip() for line in (text or "").splitlines() if line.strip())


@contextlib.contextmanager
def quiet_log(verbosity: int):
    """A failure is already the one line on stderr; -v 2 shows the log lines too."""
    logger = logging.getLogger("backups_app")
    level = logger.level
    if verbosity < 2:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def recover_first(command, verbosity: int = 1) -> None:
    """Before any work: end jobs whose process is gone, clean up after them, and say what was cleaned."""
    from backups_app.services.jobs import recovery

    with quiet_log(verbosity):
        lines = recovery.recover().lines
    for line in lines:
        command.stderr.write(f"recovered: {line}")


def waiting_reporter(command):
    """on_wait for a job run here: the wait for the target's turn shows on stderr at once, then as it goes."""
    def report(line: str) -> None:
        command.stderr.write(line)
        command.stderr.flush()
    return report
