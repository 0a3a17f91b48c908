#!/usr/bin/env bash
# Runs the whole test suite: makes .venv when missing, installs the pinned
# dependencies, then pytest (each test session starts its own PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
.venv/bin/python manage.py compilemessages -v0 --ignore=.venv 2>/dev/null || true
exec .venv/bin/python -m pytest "$@"
