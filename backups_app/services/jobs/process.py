"""Which process runs a job, and whether it is gone: pid, pid namespace, boot and host, recorded when it is claimed.

A heartbeat that stops says a job is lost only after JOB_LOST_AFTER_SECONDS;
from inside the same pid namespace of the same machine we can tell at once.
A job is gone when its pid no longer exists, or when the process now at that
pid started after the job was claimed (the pid was reused). Rows claimed
under another host name, another boot, or another pid namespace (a second
container sharing the host name, `unshare --pid`), or before the namespace
was recorded, are left to the heartbeat: there the pid names another
process, or none. A boot id that differs may be a restart of this machine or
another machine of the same name; the heartbeat tells them apart safely.

A host's name is CONSOLE_HOST_NAME, else the machine's host name: it is
where a backup's local file is (jobs/placement.py) and whose worker takes a
job sent to that host.
"""

import functools
import os
import socket
from pathlib import Path

from django.conf import settings

from backups_app.services.postgres.proc import pid_namespace

__all__ = ["boot_id", "gone", "host", "identity", "pid_namespace", "started_at"]

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
# A process's start time is known to a clock tick; allow for that and for clock rounding.
START_SLACK_SECONDS = 2


@functools.cache
def boot_id() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""


def host() -> str:
    return (settings.CONSOLE_HOST_NAME or socket.gethostname())[:255]


def identity() -> dict:
    """The fields a claimed row records about the process that runs it."""
    return {"pid": os.getpid(), "pid_namespace": pid_namespace(), "boot_id": boot_id(), "host": host()}


def started_at(pid: int) -> float | None:
    """When a process started (epoch seconds), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):
        return None
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


@functools.cache
def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def sees(*, pid, boot, on_host: str, namespace: str) -> bool:
    """Whether the claiming process's pid means the same process here: same host, boot and pid namespace."""
    here = pid_namespace()
    return bool(pid) and on_host == host() and bool(boot) and boot == boot_id() and bool(here) and namespace == here


def gone(*, pid, boot, on_host: str, namespace: str, claimed_at) -> str:
    """Why the process that claimed a row is gone ("" when it may still be running, or we cannot tell from here)."""
    if not sees(pid=pid, boot=boot, on_host=on_host, namespace=namespace):
        return ""
    began = started_at(pid)
    if began is None:
        return f"its process ({pid} on {on_host}) ended without finishing it (killed?)"
    if claimed_at is not None and began > claimed_at.timestamp() + START_SLACK_SECONDS:
        return f"its process ({pid} on {on_host}) ended without finishing it (killed?; the pid now belongs to another)"
    return ""
