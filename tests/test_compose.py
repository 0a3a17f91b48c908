"""The compose stack: docker/compose.local.yml run end to end, and the published example kept in step with it.

The local file is the example's stack built without a registry (docs/docker.md,
"The compose stack here", run word for word): web, worker, Redis and a
TimescaleDB server, all on the shared base image. A hypertable is backed up by
the worker container and restored with the same rows. The example keeps
public images for the field; the two may differ only in where images come
from and in health conditions, so neither drifts from the other.
"""

import subprocess
from pathlib import Path

import pytest
import yaml

from tests import containers
from tests.console_process import ROOT
from tests.pgcluster import free_port

LOCAL = ROOT / "docker" / "compose.local.yml"
TSDB_IMAGE = "localhost/backup-console-timescaledb:2.28.3-pg15"
EXAMPLE = ROOT / "docker-compose.example.yml"
COMPOSE = [str(ROOT / ".venv" / "bin" / "podman-compose"), "--env-file", "var/compose.env", "-f",
           "docker/compose.local.yml"]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def comparable(service: dict) -> dict:
    """A service without what may differ: where its image comes from, and what its start waits on."""
    kept = {k: v for k, v in service.items() if k not in ("image", "build", "depends_on")}
    depends = service.get("depends_on", [])
    return {**kept, "depends_on": sorted(depends)}


def test_the_published_example_differs_from_the_tested_stack_only_in_its_images():
    local, example = load(LOCAL), load(EXAMPLE)
    assert set(local["services"]) == set(example["services"]) == {"timescaledb", "redis", "web", "worker"}
    for name in local["services"]:
        assert comparable(local["services"][name]) == comparable(example["services"][name]), name
    assert local["volumes"] == example["volumes"]
    # The field builds the console from the checkout; here it is the image the docs build from HEAD.
    assert example["services"]["web"]["build"] == "." and local["services"]["web"]["image"] == containers.IMAGE
    assert all(":" in s["image"] and not s["image"].startswith("localhost/")
               for n, s in example["services"].items() if n in ("timescaledb", "redis"))


def test_deploy_md_gives_the_console_services_as_the_example_has_them():
    snippet = containers.documented_yaml("deploy.md", "The smallest compose file")
    example = load(EXAMPLE)["services"]
    for name in ("web", "worker"):
        for key in ("command", "init", "stop_grace_period"):
            assert snippet["services"][name].get(key) == example[name].get(key), (name, key)


def compose(*args, timeout=300, check=True):
    proc = subprocess.run([*COMPOSE, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"podman-compose {' '.join(args)}: {proc.stderr[-3000:]}"
    return proc


@pytest.mark.image
@pytest.mark.slow
def test_the_local_stack_backs_up_a_hypertable_and_restores_it():
    containers.build_image()
    if not (ROOT.parent / "shared" / "vendor").is_dir() and \
            containers.podman("image", "exists", TSDB_IMAGE, check=False).returncode:
        pytest.fail(f"no image {TSDB_IMAGE}, and no ../shared beside the checkout to build it from: run the tests "
                    "once from a checkout beside shared/ (docs/docker.md, The compose stack here)", pytrace=False)
    port = free_port()
    if (ROOT / "var" / "compose.env").exists():
        compose("down", "-v", check=False)
    try:
        containers.run_documented("docker.md", "### The compose stack here", env={"CONSOLE_PORT": str(port)},
                                  timeout=1800)
        containers.wait_for(lambda: compose("exec", "-T", "timescaledb", "pg_isready", "-q", check=False)
                            .returncode == 0, timeout=120, what="the TimescaleDB server")
        compose("exec", "-T", "timescaledb", "psql", "-q", "-v", "ON_ERROR_STOP=1", "-U", "postgres", "-d",
                "trading_system", "-c", "CREATE TABLE ticks (time timestamptz NOT NULL, price float); "
                "SELECT create_hypertable('ticks', 'time'); INSERT INTO ticks SELECT now() - g * interval "
                "'1 minute', g FROM generate_series(1, 5000) g")
        containers.wait_for(lambda: compose("exec", "-T", "web", "python", "manage.py", "migrate", "--check",
                                            check=False).returncode == 0, timeout=120, what="the migrations")
        made = compose("exec", "-T", "worker", "python", "manage.py", "backup", "--type", "manual", "--format",
                       "custom")
        assert "trading_system_manual_" in made.stdout
        restored = compose("exec", "-T", "worker", "python", "manage.py", "restore", "1", "--into", "ticks_copy")
        assert "TimescaleDB 2.28.3: pre_restore, restore, post_restore" in restored.stdout + restored.stderr
        count = compose("exec", "-T", "timescaledb", "psql", "-U", "postgres", "-d", "ticks_copy", "-Atc",
                        "SELECT count(*), count(DISTINCT price) FROM ticks")
        assert count.stdout.split() == ["5000|5000"]
        hyper = compose("exec", "-T", "timescaledb", "psql", "-U", "postgres", "-d", "ticks_copy", "-Atc",
                        "SELECT hypertable_name FROM timescaledb_information.hypertables")
        assert hyper.stdout.split() == ["ticks"]
    finally:
        containers.run_documented("docker.md", "To remove the stack and its volumes")
