"""Which host runs a job: the one whose BACKUP_ROOT holds a backup's file, when no other host can read it.

Hosts that share the console database, the queue and object storage each
have a BACKUP_ROOT of their own. A backup's local file is on the host that
made it (its row's `host`) until it is removed after its upload. So:

- a job that reads a backup (verification, drill, restore) runs on any host
  once the backup is in object storage (a host without the file fetches
  it), and before that only on the host that has the file;
- work on the local file itself (copying it to object storage again,
  deleting it when pruning) runs on that host, unless the file was removed
  after its upload (then only the objects are left, reachable from anywhere).

A file found under this host's BACKUP_ROOT is worked on here, whatever name
the row gives (containers sharing one volume, a host renamed). Otherwise the
queue sends the job to the named host's own list (queue.py, broker.py); a
worker that gets one it cannot do hands it over (lifecycle.OnAnotherHost),
and a command run on the wrong host refuses in one line that names the host.
"""

from backups_app.models import OffsiteStatus
from backups_app.services.jobs import process
from backups_app.services.storage import layout, offsite


def file_host(backup) -> str:
    """The host whose BACKUP_ROOT holds the backup's local file ("" when none does, or none was recorded)."""
    if not backup.path or backup.local_removed:
        return ""
    return backup.host


def holder(backup) -> str:
    """The host that has the backup's local file, as this host sees it ("" when none does).

    This host when the file is under its BACKUP_ROOT, whatever name the row
    gives; the recorded host when that is another one, whose BACKUP_ROOT
    cannot be seen from here (its record is taken at its word); none when
    the file was removed after its upload, or is gone from its own host.
    """
    if not backup.path or backup.local_removed:
        return ""
    if offsite.is_local(layout.absolute(backup.path)):
        return process.host()
    return backup.host if backup.host != process.host() else ""


def reader_host(backup) -> str:
    """The host a job that reads the backup must run on ("" when any host can: it is in object storage)."""
    return "" if offsite.available_offsite(backup) else file_host(backup)


def job_host(record) -> str:
    """The host a job row must run on ("" when any host can): a verification's or a restore's backup decides."""
    backup = getattr(record, "backup", None)
    return reader_host(backup) if backup is not None else ""


def route(backup, host: str) -> str:
    """Where to send a job meant for `host`: that host's own list, or "" (any worker) when the file is here."""
    return host if away(backup, host) else ""


def away(backup, host: str) -> bool:
    """Whether work on the backup's file, meant for `host`, cannot be done here: another host, and not here."""
    return bool(host) and host != process.host() and not offsite.is_local(layout.absolute(backup.path))


def refusal(backup, *, doing: str, reading: bool) -> str:
    """Why a command cannot do this here, naming the host that can ("" when it can). doing: "verify", "restore"."""
    host = reader_host(backup) if reading else file_host(backup)
    if not away(backup, host):
        return ""
    where = f"backup #{backup.pk}'s file is on host {host}, not on this host ({process.host()})"
    if reading and backup.offsite_status == OffsiteStatus.UPLOADING:
        return (f"{where}, and its upload to object storage has not finished: {doing} it there, "
                "or here once it is uploaded")
    return f"{where}: {doing} it there"
