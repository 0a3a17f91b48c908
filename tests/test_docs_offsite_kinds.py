"""docs/offsite-gcs.md and docs/offsite-sftp.md, checked word for word against the code and run against real servers.

GCS: the custom role's permissions, the table of permissions and what the
console's GCS store needs step by step are one set. `gcloud` does not run
here, so the bucket and the service account's key are made the emulator's
way (fake-gcs-server and its token endpoint, tests/gcsserver.py); from
there the page runs as written: the key in the variable the page names,
the storage made with the admin's own form from the page's table (its
endpoint set to the emulator), `test_storage` printing the line the page
shows, a backup confirmed by the store's CRC32C and MD5, and `verify
--latest` reading the copy back.

SFTP: the page's commands and its sshd_config block run as written against
the tests' sshd, with the host, port, user and folders replaced by the
test's (the account is the one running the tests: no system account is
made here); its known_hosts line comes from the page's ssh-keyscan, and
then the storage, the test line and the first backup as for GCS.
"""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from backups_app.services.storage import gcs
from tests.gcsserver import FakeGcs
from tests.qcluster import Console
from tests.sftpserver import SftpServer

pytestmark = [pytest.mark.slow, pytest.mark.requires("sshd", "ssh-keygen", "ssh-keyscan", package="openssh-server")]

ROOT = Path(__file__).resolve().parents[1]


class Page:
    def __init__(self, name: str):
        self.text = (ROOT / "docs" / name).read_text()

    def blocks(self, lang: str) -> list[str]:
        return re.findall(rf"^```{lang}\n(.*?)^```", self.text, flags=re.S | re.M)

    def section(self, number: int) -> str:
        start = self.text.index(f"\n## {number}. ")
        end = self.text.find(f"\n## {number + 1}. ")
        return self.text[start:end if end > 0 else None]

    def commands(self, prefix: str, number: int | None = None) -> list[str]:
        text = self.section(number) if number else self.text
        return [line for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)
                for line in block.splitlines() if line.startswith(prefix)]

    def fields(self) -> dict[str, str]:
        rows = re.findall(r"^\| ([a-z_ ]+) \| (.+) \|$", self.section(4), flags=re.M)
        return {field: value for field, value in rows if field != "field"}

    def variable(self) -> tuple[str, str]:
        """Step 3's line: the variable the storage names, and the key file's path in it."""
        [(name, value)] = re.findall(r"^([A-Z_]+)=(.*)$", self.section(3), flags=re.M)
        return name, value

    def ok_line(self) -> str:
        return re.search(r"^```\n(offsite: OK: .*)\n```", self.section(5), flags=re.M).group(1)


def console_with(tmp_path, pg_cluster, pagila, env: dict) -> Console:
    return Console(tmp_path / "console", env={
        **env, "DB_HOST": pg_cluster.host, "DB_PORT": str(pg_cluster.port), "DB_USER": pg_cluster.user,
        "DB_NAME": pagila, "DB_PASSWORD": pg_cluster.password}).migrate()


def add_storage_from_the_table(console: Console, fields: dict, replaced: dict) -> None:
    """The page's table of fields, through the admin's own form; `replaced`: the test's values for some."""
    console.shell(f"""
        from django.contrib.admin import autodiscover, site
        from django.test import RequestFactory
        from backups_app.models import BackupStorage, StorageKind
        fields, replaced = {fields!r}, {replaced!r}
        plain = lambda v: "" if v.startswith("empty") else v.split(" (")[0].strip("`")
        autodiscover()
        Form = site._registry[BackupStorage].get_form(RequestFactory().get("/"))
        by_label = {{str(f.verbose_name): f.name for f in BackupStorage._meta.fields}}
        data = {{by_label[k]: plain(v) for k, v in fields.items()}}
        data["kind"] = next(c for c, label in StorageKind.choices if str(label) == fields["kind"])
        for flag in ("is_default", "keep_local_copy"):
            data[flag] = data[flag] == "on"
        data.update(replaced)
        form = Form(data=data)
        assert form.is_valid(), form.errors
        form.save()
    """)


def run_as_written(line: str, console: Console) -> subprocess.CompletedProcess:
    return subprocess.run(shlex.split(line), cwd=ROOT, env=console.env, capture_output=True, text=True, timeout=300)


def steps_five_and_six(page: Page, console: Console, *, url_start: str, confirmed: str,
                                         replaced_in_line: dict) -> None:
    """Steps 5 and 6 of a page, as written: the test's line as the page shows it, then a checked backup."""
    [test_line] = page.commands(".venv/bin/python manage.py test_storage")
    tested = run_as_written(test_line, console)
    assert tested.returncode == 0, tested.stderr
    pattern = re.escape(page.ok_line())
    for shown, actual in {**replaced_in_line, "web1-4242-1a2b3c4d": r"\S+", "0.4": r"[0-9.]+"}.items():
        pattern = pattern.replace(re.escape(shown), actual)
    assert re.fullmatch(pattern, tested.stdout.strip()), tested.stdout
    for line in page.commands(".venv/bin/python manage.py ", 6):
        done = run_as_written(line, console)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
    [backup] = console.rows("SELECT * FROM backups_app_backuprecord")
    assert backup["offsite_status"] == "uploaded", backup["offsite_detail"]
    assert backup["offsite_detail"].endswith(confirmed), backup["offsite_detail"]
    [check] = console.rows("SELECT * FROM backups_app_verificationrecord")
    assert f"read back {url_start}" in check["detail"], check["detail"]


# -- Google Cloud Storage -------------------------------------------------------------------------------------

GCS = Page("offsite-gcs.md")


def test_the_gcs_role_the_table_and_what_the_console_needs_are_one_set():
    [create_role] = GCS.commands("gcloud iam roles create")
    role = set(re.search(r"--permissions=(\S+)", create_role).group(1).split(","))
    table = set(re.findall(r"^\| `(storage\.[a-z.]+)` \|", GCS.section(2), flags=re.M))
    needed = {p for p in gcs.NEEDS.values() if p}
    assert role == table == needed


def test_the_gcs_setup_in_the_docs_works_as_written(tmp_path, pg_cluster, pagila):
    server = FakeGcs(tmp_path / "gcs").start()
    try:
        server.create_bucket("acme-db-backups")  # step 1, the emulator's way
        name, _path = GCS.variable()
        console = console_with(tmp_path, pg_cluster, pagila, {name: str(server.key_file)})
        try:
            assert name == GCS.fields()["key file variable"].strip("`")
            add_storage_from_the_table(console, GCS.fields(), {"endpoint_url": server.endpoint})
            steps_five_and_six(GCS, console, url_start="gs://acme-db-backups/backups/prod/",
                                                 confirmed="confirmed by the store's own CRC32C and MD5",
                                                 replaced_in_line={})
        finally:
            console.close()
    finally:
        server.close()


# -- SFTP ------------------------------------------------------------------------------------------------------

SFTP = Page("offsite-sftp.md")


def as_here(line: str, *, server: SftpServer, folders: dict) -> str:
    for written, here in {**folders, "backup.example.internal": "127.0.0.1", "-p 22": f"-p {server.port}",
                          "backup-console@": f"{server.user}@", "-o backup-console": f"-o {server.user}"}.items():
        line = line.replace(written, here)
    return line


def test_the_sftp_setup_in_the_docs_works_as_written(tmp_path, pg_cluster, pagila):
    server = SftpServer(tmp_path / "sshd")
    folders = {"/srv/backups/prod": str(server.root / "srv/backups/prod"), "/etc/backup-console": str(tmp_path / "etc")}
    # 1: the account's folder, as written; the account itself is the tests' own (no system account is made here).
    [useradd] = SFTP.commands("useradd", 1)
    assert "--shell /usr/sbin/nologin backup-console" in useradd
    (server.root / "srv/backups").mkdir(parents=True)
    for line in SFTP.commands("install", 1):
        subprocess.run(shlex.split(as_here(line, server=server, folders=folders)), check=True)
    match = re.search(r"^```\n(Match User .*?)^```", SFTP.section(1), flags=re.S | re.M).group(1)
    server.extra = match.replace("backup-console", server.user)
    server.start()
    try:
        # 2: the key and the host key, by the page's own commands.
        lines = [as_here(line, server=server, folders=folders) for line in SFTP.commands("", 2)]
        for line in lines:
            command, _, output = line.partition(" >> ")
            done = subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60, check=True)
            if output:
                with open(output, "a") as f:
                    f.write(done.stdout)
        assert "ED25519" in done.stdout  # the fingerprint to compare with the server's
        server.authorize(tmp_path / "etc" / "sftp_key.pub")
        assert oct((tmp_path / "etc").stat().st_mode & 0o777) == "0o700"

        name, key = SFTP.variable()
        console = console_with(tmp_path, pg_cluster, pagila, {name: as_here(key, server=server, folders=folders)})
        try:
            fields = SFTP.fields()
            assert name == fields["key file variable"].strip("`")
            add_storage_from_the_table(console, fields, {
                "host": "127.0.0.1", "port": server.port, "username": server.user,
                "prefix": folders["/srv/backups/prod"],
                "known_hosts_file": as_here(fields["known_hosts file"].strip("`"), server=server, folders=folders)})
            here = f"{server.user}@127.0.0.1:{server.port}{folders['/srv/backups/prod']}"
            steps_five_and_six(
                SFTP, console, url_start=f"sftp://{here}/",
                confirmed="confirmed by reading it back from the server (sha256) before it took its name",
                replaced_in_line={"backup-console@backup.example.internal/srv/backups/prod": here})
            [backup] = console.rows("SELECT * FROM backups_app_backuprecord")
            folder = Path("/" + backup["offsite_key"]).parent
            checked = subprocess.run(["sh", "-c", "sha256sum -c *.sha256"], cwd=folder, capture_output=True,
                                     text=True)
            assert checked.returncode == 0 and checked.stdout.count(": OK") == 2, checked.stdout + checked.stderr
        finally:
            console.close()
    finally:
        server.stop()
    assert "Accepted publickey" in (tmp_path / "sshd" / "sshd.log").read_text()
