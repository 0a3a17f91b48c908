"""Choose PostgreSQL client programs that can talk to a given server.

pg_dump refuses servers newer than itself, so for each server we take the
newest client whose major version is at least the server's.
"""

import functools
import glob
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


class ToolNotFound(Exception):
    pass


@dataclass(frozen=True)
class Tool:
    path: str
    version: str  # e.g. "15.20"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def search_dirs() -> list[str]:
    dirs = []
    if settings.PG_BIN_DIR:
        dirs.append(settings.PG_BIN_DIR)
        if settings.PG_BIN_DIR_ONLY:
            return dirs
    dirs += os.environ.get("PATH", "").split(os.pathsep)
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    dirs += sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)
    dirs += sorted(glob.glob("/opt/homebrew/opt/postgresql@*/bin"), reverse=True)
    dirs += sorted(glob.glob("/usr/local/opt/postgresql@*/bin"), reverse=True)
    dirs += ["/opt/homebrew/bin", "/usr/local/bin"]
    seen, out = set(), []
    for d in dirs:
        if d and d not in seen:
            seen.add(d)
            out.append(d)
    return out


@functools.lru_cache(maxsize=64)
def _version_of(path: str, mtime: float) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out)
    return m.group(1) if m else None


def candidates(name: str) -> list[Tool]:
    """Every distinct working copy of a program, newest first."""
    found, seen = [], set()
    for d in search_dirs():
        path = os.path.join(d, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        real = os.path.realpath(path)
        # Debian's /usr/bin/pg_dump is a Perl wrapper around the real program in
        # /usr/lib/postgresql/N/bin (searched too): starting it costs ~80 ms a run.
        if real in seen or os.path.basename(real) == "pg_wrapper":
            continue
        seen.add(real)
        version = _version_of(real, Path(real).stat().st_mtime)
        if version:
            found.append(Tool(path, version))
    return sorted(found, key=lambda t: tuple(int(x) for x in t.version.split(".")), reverse=True)


def find(name: str, server_major: int | None = None, *, server_version: str = "") -> Tool:
    """The newest `name` whose major version is >= the server's."""
    tools = candidates(name)
    usable = [t for t in tools if server_major is None or t.major >= server_major]
    if usable:
        return usable[0]
    seen = ", ".join(f"{t.version} ({t.path})" for t in tools) or f"none ({where_searched()})"
    if server_major is None:
        raise ToolNotFound(f"{name} not found ({where_searched()})")
    raise ToolNotFound(
        f"no {name} can work with this server, PostgreSQL {server_version or server_major}: it needs "
        f"{name} {server_major} or newer; found {seen}. Install the PostgreSQL {server_major} "
        f"client tools or set PG_BIN_DIR"
    )


def where_searched() -> str:
    if settings.PG_BIN_DIR and settings.PG_BIN_DIR_ONLY:
        return f"searched only PG_BIN_DIR={settings.PG_BIN_DIR}"
    return "searched PG_BIN_DIR, PATH and the usual PostgreSQL folders"


def which(name: str) -> str | None:
    return shutil.which(name)


# Which program each run uses. Every run of a client program takes it from
# one of these, so a rule about client versions is written once, here.

def pg_dump_for(server_major: int | None, *, server_version: str = "") -> Tool:
    return find("pg_dump", server_major, server_version=server_version)


def pg_dump_candidates() -> list[Tool]:
    return candidates("pg_dump")


def pg_dumpall_for(server_major: int | None) -> Tool:
    return find("pg_dumpall", server_major)


def psql_for(server_major: int | None) -> Tool:
    return find("psql", server_major)


def pg_restore_for(archive, *, server_major: int | None = None) -> Tool:
    """A pg_restore to read `archive` with (and to restore it into a server of server_major)."""
    return find("pg_restore", server_major)
