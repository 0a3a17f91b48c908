"""docs/api.md's "back up before a deploy, and wait", run word for word against a real console and its worker.

`manage.py runconsole` serves the console (gunicorn) with its qcluster
worker; the docs' bash block runs as written with CONSOLE, TOKEN and TARGET
set as the docs ask, using curl and jq. It must end 0 with the backup made,
and 1, saying so, when the backup fails.
"""

import re
import subprocess
from pathlib import Path

import pytest

from tests.pgcluster import free_port

pytestmark = [pytest.mark.slow, pytest.mark.requires("curl", "jq", package="curl jq")]

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"


def the_example() -> str:
    text = DOC.read_text()
    section = text[text.index("## Back up before a deploy, and wait"):]
    return re.search(r"^```bash\n(.*?)^```", section, flags=re.S | re.M).group(1)


def make_token(console, role: str) -> str:
    return console.shell_json(f"""
        import json
        from django.contrib.auth.models import Group, User
        from backups_app.services.web import tokens
        user = User.objects.create_user(username="deployer", password=None, is_staff=True)
        user.groups.add(Group.objects.get(name={role!r}))
        print(json.dumps(tokens.create(user=user, name="deploy-pipeline")[1]))
    """)


def run_example(console_url: str, token: str, target: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "CONSOLE": console_url, "TOKEN": token, "TARGET": target}
    return subprocess.run(["bash", "-c", the_example()], env=env, capture_output=True, text=True, timeout=300)


def test_the_docs_back_up_before_a_deploy_and_wait_for_it(console, pg_cluster, fresh_db):
    console.add_target("prod", dbname=fresh_db("api_docs_prod"), cluster=pg_cluster)
    console.add_target("broken", dbname="api_docs_prod", cluster=pg_cluster, password_env="BACKUP_PG_PASSWORD_NOPE")
    console.env["BACKUP_PG_PASSWORD_NOPE"] = "wrong password"
    token = make_token(console, "Backup operators")
    port = free_port()
    console.start_runconsole(port)
    url = f"http://127.0.0.1:{port}"

    done = run_example(url, token, "prod")
    assert done.returncode == 0, done.stderr + done.stdout
    [line] = done.stdout.splitlines()
    assert re.fullmatch(r"backup #(\d+) of prod: succeeded ", line), line
    [row] = console.rows("SELECT id, status, path, started_by FROM backups_app_backuprecord")
    assert row["status"] == "succeeded" and (console.backup_root / row["path"]).is_file()
    assert row["started_by"] == "deployer (API token deploy-pipeline)"
    [entry] = console.rows("SELECT change_message FROM django_admin_log WHERE action_flag = 2")
    assert "token “deploy-pipeline”" in entry["change_message"]

    failed = run_example(url, token, "broken")
    assert failed.returncode == 1
    assert re.fullmatch(r"backup #\d+ of broken: failed cannot connect .*", failed.stdout.strip()), failed.stdout
