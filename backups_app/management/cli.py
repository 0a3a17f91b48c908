"""Small things the restore and verify commands share."""

import contextlib
import logging
import math

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError

from backups_app.checks import BACKUP_ROOT_WRITABLE

# The system checks the operational commands (backup, restore, verify) run before they start: the
# console's own (pg_dump found, BACKUP_ROOT writable) and the models'. The admin's and the URLs'
# are for the web process; `manage.py check` runs them all.
# Commands that only read (backup --list, backup --check) leave out BACKUP_ROOT's writability.
READING_CHECKS = [Tags.compatibility, Tags.models]
OPERATIONAL_CHECKS = [*READING_CHECKS, BACKUP_ROOT_WRITABLE]


# Bounds of the numeric options: past them a date or a database id overflows, or the number means nothing.
MAX_ID = 2**63 - 1  # the largest BigAutoField
MAX_DAYS = 36_500  # a hundred years
MAX_HOURS = MAX_DAYS * 24


def in_range(value, option: str, low, high, *, above: bool = False):
    """value when low <= value <= high (low < value with above); else the one-line error. None passes."""
    if value is None:
        return None
    inside = math.isfinite(value) and (low < value if above else low <= value) and value <= high
    if not inside:
        start = f"more than {low}" if above else f"at least {low}"
        raise CommandError(f"{option} must be {start} and at most {high}, not {value}")
    return value


class ConsoleCommand(BaseCommand):
    """A command whose help is a lazy translation, read in the language active when --help is asked for."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        self.help = str(self.help)  # argparse wraps the description with re, which takes only a real str
        return super().create_parser(prog_name, subcommand, **kwargs)


def one_line(text: str) -> str:
    """A multi-line error (pg_restore's own lines) as the one line a command prints."""
    return " | ".join(line.strip() for line in (text or "").splitlines() if line.strip())


@contextlib.contextmanager
def quiet_log(verbosity: int, *, below: int = logging.ERROR):
    """A failure is already the one line on stderr; -v 2 shows the log lines too.

    below: the level a log line needs to show at lower verbosity (CRITICAL where the command's own
    line already says every error, such as a failed upload after a backup).
    """
    logger = logging.getLogger("backups_app")
    level = logger.level
    if verbosity < 2:
        logger.setLevel(below)
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
