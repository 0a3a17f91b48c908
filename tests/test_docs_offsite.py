"""docs/offsite.md, run word for word: its commands, its IAM policy and its storage fields, against a real S3 server.

The AWS CLI's commands run as written, pointed at the tests' moto_server
(`--endpoint-url` added: the only change), which creates the docs' bucket,
user, policy and key. moto then checks every request against IAM, so the
console gets in only through the docs' policy. The storage is made with the
admin's own form from the docs' table of fields (its endpoint set to the
test server, the docs' being empty for AWS), the key goes into the
variables the docs name, and the console's commands run as written from
the checkout: test_storage prints the line the docs show, a backup is
uploaded and confirmed by the store's SHA-256, and `verify --latest` reads
the copy back.
"""

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.qcluster import Console

pytest_plugins = ["tests.s3_fixtures"]
pytestmark = [pytest.mark.slow, pytest.mark.requires("aws", package="awscli")]

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "offsite.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def section(number: int) -> str:
    text = DOC.read_text()
    return text[text.index(f"\n## {number}. "):text.index(f"\n## {number + 1}. ")]


def commands(prefix: str) -> list[str]:
    return [line for block in blocks("sh") for line in block.splitlines() if line.startswith(prefix)]


def storage_fields_in_the_docs() -> dict[str, str]:
    rows = re.findall(r"^\| ([a-z ]+) \| (.+) \|$", section(4), flags=re.M)
    return {field: value for field, value in rows if field != "field"}


def aws(line: str, *, cwd: Path, endpoint: str) -> str:
    """One of the docs' AWS CLI lines, as written, sent to the test server with moto's root key."""
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_PAGER": ""}
    done = subprocess.run([*shlex.split(line), "--endpoint-url", endpoint], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{line}\n{done.stderr}"
    return done.stdout


def run_as_written(line: str, console: Console) -> subprocess.CompletedProcess:
    return subprocess.run(shlex.split(line), cwd=ROOT, env=console.env, capture_output=True, text=True, timeout=300)


def test_the_offsite_setup_in_the_docs_works_as_written(tmp_path, s3_server, pg_cluster, pagila):
    # 1-2: the bucket, the policy file, the user and its key, by the AWS CLI.
    (tmp_path / "backup-console-policy.json").write_text(blocks("json")[0])
    out = [aws(line, cwd=tmp_path, endpoint=s3_server.endpoint) for line in commands("aws ")]
    key = json.loads(out[-1])["AccessKey"]
    assert "acme-db-backups" in {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}
    s3_server.enforce_policies()  # from here on, only what the docs' policy allows

    # 3: the key in the variables the docs name; the database to back up in DB_*, as in a real .env.
    names = re.findall(r"^([A-Z_]+)=(.*)$", blocks("sh")[2], flags=re.M)
    values = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    env = {name: next(v for k, v in values.items() if k in text) for name, text in names}
    console = Console(tmp_path / "console", env={
        **env, "DB_HOST": pg_cluster.host, "DB_PORT": str(pg_cluster.port), "DB_USER": pg_cluster.user,
        "DB_NAME": pagila, "DB_PASSWORD": pg_cluster.password}).migrate()
    try:
        # 4: the storage, through the admin's form, from the docs' table.
        fields = storage_fields_in_the_docs()
        console.shell(f"""
            from django.contrib.admin import autodiscover, site
            from django.test import RequestFactory
            from backups_app.models import BackupStorage, StorageKind
            fields = {fields!r}
            plain = lambda v: v.split(" (")[0].strip("`")
            autodiscover()  # the URLconf loads the admin's modules in the web process
            admin = site._registry[BackupStorage]
            Form = admin.get_form(RequestFactory().get("/"))
            by_label = {{f.verbose_name: f.name for f in BackupStorage._meta.fields}}
            data = {{by_label[k]: plain(v) for k, v in fields.items()}}
            data["kind"] = next(c for c, label in StorageKind.choices if str(label) == data["kind"])
            for flag in ("is_default", "keep_local_copy"):
                data[flag] = data[flag] == "on"
            assert data.pop("endpoint_url").startswith("empty")
            data["endpoint_url"] = {s3_server.endpoint!r}  # the docs' storage is AWS itself
            form = Form(data=data)
            assert form.is_valid(), form.errors
            form.save()
        """)

        # 5: the test, as written; its line as the docs show it.
        [test_line] = commands(".venv/bin/python manage.py test_storage")
        tested = run_as_written(test_line, console)
        assert tested.returncode == 0, tested.stderr
        shown = re.search(r"^```\n(offsite: OK: .*)\n```", section(5), flags=re.M).group(1)
        pattern = re.escape(shown).replace("web1\\-4242\\-1a2b3c4d", r"\S+").replace("0\\.4", r"[0-9.]+")
        assert re.fullmatch(pattern, tested.stdout.strip()), tested.stdout

        # 6: the first backup, and its verification reading the copy back.
        for line in commands(".venv/bin/python manage.py ")[1:]:
            done = run_as_written(line, console)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
        [backup] = console.rows("SELECT * FROM backups_app_backuprecord")
        assert backup["offsite_status"] == "uploaded", backup["offsite_detail"]
        assert backup["offsite_key"].startswith("backups/prod/database/")
        assert backup["offsite_detail"].endswith("confirmed by the store's own SHA-256")
        [check] = console.rows("SELECT * FROM backups_app_verificationrecord")
        assert f"read back s3://acme-db-backups/{backup['offsite_key']}" in check["detail"], check["detail"]
    finally:
        s3_server.enforce_policies(False)
        console.close()


def test_the_table_of_permissions_names_what_the_policy_allows():
    policy = json.loads(blocks("json")[0])
    listed = {a for s in policy["Statement"] for a in s["Action"]}
    table = {p for row in re.findall(r"^\| (`s3:.*?) \|", section(2), flags=re.M) for p in re.findall(r"s3:\w+", row)}
    assert table == listed, "the table of permissions and the policy list the same ones"
