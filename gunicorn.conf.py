"""Gunicorn settings for every start of the console's web server.

Gunicorn reads ./gunicorn.conf.py by itself (the image and the systemd unit start in this
folder); runconsole names it with --config. Command-line options still win.
"""

import os
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent
environ.Env.read_env(BASE_DIR / ".env")  # VAR_DIR may come from there, as in backupconsole/settings.py

# Files the arbiter makes (its control socket, the folder for it) are private, like the console's own.
os.umask(0o077)

# The control socket (gunicornc) defaults to ~/.gunicorn/gunicorn.ctl: one path for every gunicorn
# a user runs, so a second one takes the socket over and unlinks it when it stops. The console's
# lives with its own state.
control_socket = str(Path(os.environ.get("VAR_DIR") or BASE_DIR / "var") / "gunicorn.ctl")
