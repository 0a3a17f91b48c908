"""Run a piece of a test as another OS user, for checks that root's powers would pass.

Root writes through file modes, so "this folder is not writable" can only be
shown to root by a process that is not root. `call_as` forks the test process,
drops to `nobody` in the child and runs a function there; what it returns (or
raises) comes back pickled. The child has a copy of the parent's memory: its
SQLite test database writes stay in the child, so return what the parent needs.

`shared_folder` gives a folder outside pytest's private (0700) temporary tree
that such a user can reach, owned by that user.
"""

import os
import pickle
import pwd
import shutil
import tempfile
import traceback
from pathlib import Path

OTHER_USER = "nobody"


def running_as_root() -> bool:
    return os.geteuid() == 0


def shared_folder(owner: str = OTHER_USER) -> Path:
    """A new folder under the system temp dir (0711 on the way, owned by owner); remove it with shutil.rmtree."""
    outer = Path(tempfile.mkdtemp(prefix="bc-as-user-"))
    outer.chmod(0o711)
    inner = outer / "home"
    inner.mkdir(mode=0o700)
    user = pwd.getpwnam(owner)
    os.chown(inner, user.pw_uid, user.pw_gid)
    return inner


def chown_tree(path: Path, owner: str = OTHER_USER) -> None:
    user = pwd.getpwnam(owner)
    for p in [path, *path.rglob("*")]:
        os.chown(p, user.pw_uid, user.pw_gid)


def remove_shared_folder(inner: Path) -> None:
    shutil.rmtree(inner.parent, ignore_errors=True)


def call_as(user: str, fn, *args, **kwargs):
    """fn(*args, **kwargs) in a forked child running as user (needs root); re-raises what it raised."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 0
        try:
            os.close(read_end)
            entry = pwd.getpwnam(user)
            os.setgroups([])
            os.setgid(entry.pw_gid)
            os.setuid(entry.pw_uid)
            outcome = ("returned", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            outcome = ("raised", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pickle.dump(outcome, pipe)
        except BaseException:  # noqa: BLE001
            status = 1
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise AssertionError(f"the child running as {user} ended without an answer (wait status {status})")
    kind, value = pickle.loads(data)
    if kind == "raised":
        raise AssertionError(f"as {user}: {value}")
    return value
