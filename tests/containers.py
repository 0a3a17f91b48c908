"""The console's image, built and run with podman, for the tests that deploy it as teams do.

The commands come from the docs: `documented(doc, heading)` returns the
bash block under a heading of docs/docker.md or docs/deploy.md, and the tests
run exactly that block (with the variables the block names set by the
test), so a command the docs give is a command CI runs.

podman must be ready first: `eval "$(../shared/tools/container-base.sh)"`
(scripts/test.sh does it as root when ../shared/tools is beside the checkout, and otherwise uses the setup
that tool left on the machine, if any).
Without it every test here fails at once with one line saying so.

`image` (a session fixture) builds the image once per run from what git
holds at HEAD, exactly as docs/docker.md says; podman's layer cache makes a
second build of the same tree take seconds.
"""

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests import faultkit
from tests.console_process import ROOT

IMAGE = "localhost/backup-console:latest"
BUILD_SECONDS: dict[str, float] = {}


def ready_or_fail() -> None:
    """One line saying what is missing, instead of a skip or a traceback."""
    problems = []
    if not shutil.which("podman"):
        problems.append("podman is not installed")
    for name in ("CONTAINERS_CONF", "CONTAINER_BASE_IMAGE", "CONTAINER_BUILD_CA"):
        if not os.environ.get(name):
            problems.append(f"{name} is not set")
    if not problems and podman("image", "exists", os.environ["CONTAINER_BASE_IMAGE"], check=False).returncode:
        problems.append(f"no image {os.environ['CONTAINER_BASE_IMAGE']}")
    if problems:
        pytest.fail(f"{'; '.join(problems)}: run  eval \"$(../shared/tools/container-base.sh)\"  as root first "
                    "(scripts/test.sh does when ../shared/tools is beside the checkout or the machine was prepared)",
                    pytrace=False)


def podman(*args, check=True, timeout=300, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def documented(doc: str, heading: str) -> str:
    """The first ```bash block after `heading` in docs/<doc>, as the reader sees it."""
    text = (ROOT / "docs" / doc).read_text()
    start = text.index(heading)
    match = re.compile(r"```bash\n(.*?)```", re.S).search(text, start)
    assert match, f"no bash block after {heading!r} in docs/{doc}"
    return match.group(1)


def documented_yaml(doc: str, heading: str) -> dict:
    """The first ```yaml block after `heading` in docs/<doc>, parsed."""
    import yaml

    text = (ROOT / "docs" / doc).read_text()
    match = re.compile(r"```yaml\n(.*?)```", re.S).search(text, text.index(heading))
    assert match, f"no yaml block after {heading!r} in docs/{doc}"
    return yaml.safe_load(match.group(1))


def run_documented(doc: str, heading: str, *, env: dict | None = None, timeout=900) -> subprocess.CompletedProcess:
    """Runs the block with bash in the checkout, as a reader pasting it would; fails with its output."""
    block = documented(doc, heading)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"docs/{doc}, {heading}:\n{block}\nfailed ({proc.returncode}):\n" \
                                 f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


def build_image() -> str:
    """Builds the image as docs/docker.md says, once per test run; returns its name."""
    if "seconds" not in BUILD_SECONDS:
        ready_or_fail()
        started = time.monotonic()
        run_documented("docker.md", "### Building the image here", timeout=1800)
        BUILD_SECONDS["seconds"] = time.monotonic() - started
        print(f"image built in {BUILD_SECONDS['seconds']:.0f} s")
    return IMAGE


def remove(*names: str) -> None:
    """Containers and volumes of an earlier run, gone (names the tests own)."""
    for name in names:
        podman("rm", "-f", "-t", "0", name, check=False)
    for name in names:
        podman("volume", "rm", "-f", name, check=False)


def volume_path(name: str) -> Path:
    return Path(podman("volume", "inspect", name, "--format", "{{.Mountpoint}}").stdout.strip())


def logs(name: str) -> str:
    proc = podman("logs", name, check=False)
    return proc.stdout + proc.stderr


def state(name: str) -> dict:
    return json.loads(podman("inspect", name, "--format", "{{json .State}}").stdout)


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.5, on_timeout=None):
    return faultkit.wait_for(predicate, timeout=timeout, what=what, interval=interval, on_timeout=on_timeout)


def private_tree_problems(root: Path, uid: int) -> list[str]:
    """Every file or folder under root that is not uid's, 0600 (files) or 0700 (folders)."""
    problems = []
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        want = 0o700 if path.is_dir() else 0o600
        if (st.st_uid, st.st_gid, st.st_mode & 0o777) != (uid, uid, want):
            problems.append(f"{path.relative_to(root)}: {st.st_uid}:{st.st_gid} {oct(st.st_mode & 0o777)}")
    return problems
