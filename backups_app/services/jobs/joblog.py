"""Each job's own log: what its client programs said on stderr, secrets scrubbed, kept on the job's row.

postgres/ tells every program that ended (`proc.when_finished`, registered by
apps.py); the job running in this thread (`collecting`, entered by
lifecycle.running) appends the program's name, how it ended and its stderr,
with the passwords of the job's targets and anything shaped like a password
replaced. Only the last LIMIT characters are kept. Programs that ended well
and said nothing add nothing.
"""

import contextlib
import threading

from backups_app.services.postgres.connection import password_for
from backups_app.services.postgres.scrub import scrub

LIMIT = 64 * 1024
_current = threading.local()


@contextlib.contextmanager
def collecting(record):
    """Programs ended in this thread while the block runs belong to record's log."""
    before = getattr(_current, "job", None)
    _current.job = (type(record), record.pk, _secrets_of(record), [record.log or ""])
    try:
        yield
    finally:
        _current.job = before


def note(ran) -> None:
    """A program ended (a postgres.proc.Ran); added to the log of the job collecting in this thread, if any."""
    job = getattr(_current, "job", None)
    if job is None:
        return
    text = ran.stderr.decode("utf-8", "replace") if isinstance(ran.stderr, bytes) else (ran.stderr or "")
    if ran.ok and not text.strip():
        return
    model, pk, secrets, buffer = job
    ended = f"exit status {ran.returncode}" if ran.returncode >= 0 else f"killed by signal {-ran.returncode}"
    buffer[0] = (buffer[0] + f"$ {ran.name} ({ended})\n" + scrub(text.rstrip(), secrets) + "\n")[-LIMIT:]
    model.objects.filter(pk=pk).update(log=buffer[0])


def _secrets_of(record) -> tuple:
    targets = [getattr(record, name, None) for name in ("target", "server")]
    backup = getattr(record, "backup", None)
    if backup is not None:
        targets.append(backup.target)
    found = set()
    for target in targets:
        if target is not None and hasattr(target, "password_source"):
            found.add(password_for(target))
    return tuple(s for s in found if s)
