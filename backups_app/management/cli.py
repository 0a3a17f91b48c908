"""Small things the restore and verify commands share."""

import contextlib
import logging

from django.core.checks import Tags
from django.core.management.base import BaseCommand

# The system checks the operational commands (backup, restore, verify) run before they start: the
# console's own (pg_dump found, BACKUP_ROOT writable) and the models'. The admin's and the URLs'
# are for the web process; `manage.py check` runs them all.
OPERATIONAL_CHECKS = [Tags.compatibility, Tags.models]


class ConsoleCommand(BaseCommand):
    """A command whose help is a lazy translation, read in the language active when --help is asked for."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        self.help = str(self.help)  # argparse wraps the description with re, which takes only a real str
        return super().create_parser(prog_name, subcommand, **kwargs)


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
