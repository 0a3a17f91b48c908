"""Reading KEY=VALUE files, and the demo cluster's settings for every command run from this checkout.

DB_HOST .. DB_PASSWORD are one group: when the environment (or `.env`, read
before this) sets any of them, they are used as they are. Only when none is
set does the demo cluster's `demo.env` (written by `manage.py demo_setup`,
which scripts/run-console.sh runs) give them, so a new shell acts on the same
server as the console that run-console.sh started. No Django here: settings
import it.
"""

import os
from pathlib import Path

DB_VARIABLES = ("DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD")


def read_env_file(path: Path, keys) -> dict[str, str]:
    """The KEY=VALUE lines of a file whose key is one of keys (comments and others are left out)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key in keys:
            values[key] = value
    return values


def db_settings_given() -> bool:
    return any(os.environ.get(name) for name in DB_VARIABLES)


def load_demo_settings(path: Path) -> Path | None:
    """Put demo.env's DB_* into the environment when no DB_* is set; the file read, or None.

    A file this user may not read counts as none: the command then uses the
    recorded default target as it is (services/targets/agreement.py).
    """
    if db_settings_given():
        return None
    try:
        values = read_env_file(path, DB_VARIABLES)
    except OSError:
        return None
    os.environ.update(values)
    return Path(path) if values else None
