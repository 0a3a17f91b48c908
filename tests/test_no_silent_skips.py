"""The test command's own promises: a missing program fails its tests, and under CI=true a skip fails the run.

Each case runs a real pytest in a subprocess on this repository's settings.
"""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_pytest(*args, env):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    return {**env, **extra}


def last_line(proc) -> str:
    return proc.stdout.strip().splitlines()[-1]


def test_a_missing_browser_or_redis_fails_those_tests_instead_of_skipping_them(tmp_path):
    # An empty PATH hides chromium and redis-server; the tests fail before any server is started.
    proc = run_pytest("tests/test_browser_e2e.py", "tests/test_worker_redis.py",
                      env=clean_env(PATH=str(tmp_path)))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "skipped" not in last_line(proc) and " error" in last_line(proc), proc.stdout
    assert "chromium is not installed: apt-get install chromium" in proc.stdout
    assert "redis-server is not installed: apt-get install redis-server" in proc.stdout


SKIPPING_TEST = '''
import pytest

def test_it_runs():
    pass

def test_it_cannot_run_here():
    pytest.skip("a reason outside the project")
'''


def run_skipping_test(tmp_path, **env):
    test_file = tmp_path / "test_skipping.py"
    test_file.write_text(SKIPPING_TEST)
    return run_pytest("-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO), "-p", "tests.conftest",
                      str(test_file), env=clean_env(**env))


def test_a_skip_fails_the_run_under_ci_and_is_listed_with_its_reason(tmp_path):
    proc = run_skipping_test(tmp_path, CI="true")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "SKIPPED [1] " in proc.stdout and "a reason outside the project" in proc.stdout
    assert "CI=true: 1 skipped (reasons above), so this run fails" in proc.stdout
    assert last_line(proc).startswith("=") and "1 passed, 1 skipped" in last_line(proc)


def test_outside_ci_a_skip_is_listed_but_the_run_passes(tmp_path):
    proc = run_skipping_test(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "a reason outside the project" in proc.stdout and "CI=true" not in proc.stdout
