"""Small things the console's commands share: bounds, one-line refusals, a quiet end when the reader goes."""

import contextlib
import io
import logging
import math
import os
import signal
import sys

from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError

from backups_app.checks import BACKUP_ROOT_WRITABLE
from backups_app.models.policies import HUNDRED_YEARS_DAYS

# The system checks the operational commands (backup, restore, verify) run before they start: the
# console's own (pg_dump found, BACKUP_ROOT writable) and the models'. The admin's and the URLs'
# are for the web process; `manage.py check` runs them all.
# Commands that only read (backup --list, backup --check) leave out BACKUP_ROOT's writability.
READING_CHECKS = [Tags.compatibility, Tags.models]
OPERATIONAL_CHECKS = [*READING_CHECKS, BACKUP_ROOT_WRITABLE]


# Bounds of the numeric options: past them a date or a database id overflows, or the number means nothing.
MAX_ID = 2**63 - 1  # the largest BigAutoField
MAX_DAYS = HUNDRED_YEARS_DAYS  # as a retention policy's keep days, so the browser and cron agree
MAX_HOURS = 36_500 * 24


def in_range(value, option: str, low, high, *, above: bool = False):
    """value when low <= value <= high (low < value with above); else the one-line error. None passes."""
    if value is None:
        return None
    inside = math.isfinite(value) and (low < value if above else low <= value) and value <= high
    if not inside:
        start = f"more than {low}" if above else f"at least {low}"
        raise CommandError(f"{option} must be {start} and at most {high}, not {value}")
    return value


# A command whose reader went away (`backup --list | head`) ends as a Unix tool stopped by SIGPIPE.
READER_GONE_STATUS = 128 + signal.SIGPIPE


class ReaderGone(Exception):
    """The command's stdout or stderr is a pipe whose reader has gone."""


class _Guarded:
    """A command's stdout or stderr: a write to a pipe nobody reads raises ReaderGone, so that only then
    the command ends quietly (a broken pipe to one of its own child programs stays an error)."""

    # Written in slices that fit the stream's buffer: a single long write whose reader leaves halfway
    # through ends without any error (`backup --list --json | head`), the rest silently dropped.
    SLICE = io.DEFAULT_BUFFER_SIZE // 4  # characters of up to four bytes each

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            for start in range(0, len(text), self.SLICE):
                self._stream.write(text[start:start + self.SLICE])
        except BrokenPipeError:
            raise ReaderGone from None
        return len(text)

    def flush(self):
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise ReaderGone from None

    def __getattr__(self, name):
        return getattr(self._stream, name)


class CommandLineManners:
    """How the console's commands meet a shell: a wrong option is one line naming it (the README's
    promise: stderr says why in one line), and a reader that stops early ends the command quietly."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.error = lambda message: _refuse_in_one_line(parser, message)
        return parser

    def execute(self, *args, **options):
        if self._called_from_command_line:
            options["stdout"] = _Guarded(options.get("stdout") or sys.stdout)
            options["stderr"] = _Guarded(options.get("stderr") or sys.stderr)
        return super().execute(*args, **options)

    def run_from_argv(self, argv):
        try:
            super().run_from_argv(argv)
            _Guarded(sys.stdout).flush()
        except ReaderGone:
            # Nobody reads what is still buffered: let it go to /dev/null rather than fail at exit.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.dup2(devnull, sys.stderr.fileno())
            sys.exit(READER_GONE_STATUS)


def _refuse_in_one_line(parser, message: str):
    if not parser.called_from_command_line:
        raise CommandError(f"Error: {message}")  # call_command(): as Django does
    parser.exit(2, f"{parser.prog}: error: {message} ({parser.prog} --help lists the options)\n")


class ConsoleCommand(CommandLineManners, BaseCommand):
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
