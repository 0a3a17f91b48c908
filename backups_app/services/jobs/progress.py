"""What a running job is doing: its phase (a code), the bytes it has written or read, and about how many to expect.

Kept on the job's row, so any web server can show it: the phase when it
changes, the bytes every JOB_PROGRESS_SECONDS (the heartbeat's thread,
lifecycle.Heartbeat). Rate and time left are derived when read (`Estimate`):
the rate from the bytes since the job started, the time left only when the
bytes to expect are known (a backup expects about its previous size) and not
yet passed; otherwise it is unknown, and said to be.
"""

from dataclasses import dataclass

from django.utils import timezone

WAITING = "waiting"  # for the target's turn
PREPARING = "preparing"
DUMPING = "dumping"
CHECKING = "checking"  # reading the new file back
PUBLISHING = "publishing"
FETCHING = "fetching"  # from object storage
RESTORING = "restoring"
CHECKSUM = "checksum"
READING = "reading"
DRILL = "drill"
PRUNING = "pruning"
PHASES = (WAITING, PREPARING, DUMPING, CHECKING, PUBLISHING, FETCHING, RESTORING, CHECKSUM, READING, DRILL, PRUNING)


def phase(record, code: str) -> None:
    """The job is now doing `code` (one of PHASES)."""
    record.phase = code
    type(record).objects.filter(pk=record.pk).update(phase=code)


def expect(record, expected_bytes: int | None) -> None:
    record.expected_bytes = expected_bytes
    type(record).objects.filter(pk=record.pk).update(expected_bytes=expected_bytes)


def report(model, pk, done: int) -> bool:
    """Bytes done so far, written by the heartbeat's thread while the row is running; False when it is not."""
    fields = {"progress_bytes": done}
    if any(f.name == "bytes_written" for f in model._meta.fields):
        fields["bytes_written"] = done
    return model.objects.filter(pk=pk, status="running").update(**fields) == 1


@dataclass(frozen=True)
class Estimate:
    done: int | None
    expected: int | None
    seconds: float | None  # running for
    rate: float | None  # bytes per second, on average since it started
    left: float | None  # seconds, when it can be known

    @property
    def fraction(self) -> float | None:
        if not self.done or not self.expected:
            return None
        return min(1.0, self.done / self.expected)


def estimate(record, now=None) -> Estimate:
    """How far a running job is, as far as its row tells."""
    # A backup's bytes written were its only progress before progress_bytes: rows of then still show it.
    done, expected = record.progress_bytes or getattr(record, "bytes_written", None) or None, record.expected_bytes
    started = record.started_at if record.status == "running" else None
    seconds = ((now or timezone.now()) - started).total_seconds() if started else None
    rate = done / seconds if done and seconds and seconds > 0.5 else None
    left = (expected - done) / rate if rate and expected and expected > done else None
    return Estimate(done, expected, seconds, rate, left)
