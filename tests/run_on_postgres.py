"""Runs the console-database tests again with the console's own database on PostgreSQL.

    python -m tests.run_on_postgres [pytest arguments]

Starts a throwaway cluster (tests/pgcluster.py) separate from the one the tests
back up, points DATABASE_URL at a database on it, and runs pytest on the tests
marked console_db (tests/conftest.py names the modules); a -m given is combined
with that marker. The cluster is removed at the end; the exit status is pytest's.
"""

import os
import subprocess
import sys
from urllib.parse import quote

from tests.pgcluster import Cluster


def with_marker(args: list[str], marker: str) -> list[str]:
    args = list(args)
    for i, arg in enumerate(args):
        if arg == "-m" and i + 1 < len(args):
            args[i + 1] = f"({args[i + 1]}) and {marker}"
            return args
        if arg.startswith("-m") and len(arg) > 2:
            args[i] = f"-m({arg[2:]}) and {marker}"
            return args
    return ["-m", marker, *args]


def main(argv: list[str]) -> int:
    cluster = Cluster().init().start()
    try:
        cluster.createdb("console")
        url = f"postgres://{cluster.user}:{quote(cluster.password, safe='')}@{cluster.host}:{cluster.port}/console"
        print(f"The console's own database: PostgreSQL on 127.0.0.1:{cluster.port} (throwaway cluster)", flush=True)
        env = {**os.environ, "DATABASE_URL": url}
        return subprocess.run([sys.executable, "-m", "pytest", *with_marker(argv, "console_db")], env=env).returncode
    finally:
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
