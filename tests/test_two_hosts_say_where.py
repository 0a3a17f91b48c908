"""Two hosts that share the console database say the same about a backup's file: which host has it.

A backup made on host A has its local file under host A's BACKUP_ROOT only.
Host B's lists, checks, downloads and prune previews say it is on host A,
never that it is missing; only a host that should have a file and does not
(or a backup kept nowhere) says "missing". Host A and host B are two
consoles on this machine (tests/two_hosts.py), their web servers Django's
test client run by `manage.py shell` on each.
"""

import json

import pytest

from tests.two_hosts import add_storage, admin_history, admin_page, backup_on, backup_row

pytest_plugins = ["tests.s3_fixtures", "tests.two_hosts"]
pytestmark = pytest.mark.slow

BACKUPS = "/admin/backups_app/backuprecord/"


@pytest.fixture
def broker():
    """The console database is the broker: these tests start no worker."""
    return {}


@pytest.fixture
def three(hosts):
    """#1 made on host B; #2 and #3 on host A, whose file of #3 is then lost."""
    a, b = hosts
    mine, kept, lost = backup_on(b), backup_on(a), backup_on(a)
    (a.backup_root / lost["path"]).unlink()
    return mine, kept, lost


def listing(console) -> dict:
    """`backup --list` on a host: its rows by backup id, and its last line under "total"."""
    lines = console.manage("backup", "--list").stdout.splitlines()
    return {**{int(line.split()[0]): line for line in lines[1:-1]}, "total": lines[-1]}


def listed_json(console) -> dict:
    return {r["id"]: (r["host"], r["file_missing"], r["path"])
            for r in json.loads(console.manage("backup", "--list", "--json").stdout)}


def test_backup_list_on_each_host_says_which_host_has_each_file(hosts, three):
    a, b = hosts
    mine, kept, lost = three

    on_b = listing(b)
    assert on_b[mine["id"]].endswith(f"  {b.backup_root / mine['path']}")
    assert on_b[kept["id"]].endswith(f"  {kept['path']}  (on host host-a)")
    assert on_b[lost["id"]].endswith(f"  {lost['path']}  (on host host-a)")  # host B cannot see host A's disk
    assert on_b["total"] == "3 backups; 2 on host host-a"
    on_a = listing(a)
    assert on_a[mine["id"]].endswith(f"  {mine['path']}  (on host host-b)")
    assert on_a[kept["id"]].endswith(f"  {a.backup_root / kept['path']}")
    assert on_a[lost["id"]].endswith(f"  {a.backup_root / lost['path']}  (file missing)")
    assert on_a["total"] == f"3 backups; 1 files missing under BACKUP_ROOT {a.backup_root}; 1 on host host-b"

    assert listed_json(b) == {mine["id"]: ("host-b", False, str(b.backup_root / mine["path"])),
                              kept["id"]: ("host-a", False, kept["path"]),
                              lost["id"]: ("host-a", False, lost["path"])}
    assert listed_json(a) == {mine["id"]: ("host-b", False, mine["path"]),
                              kept["id"]: ("host-a", False, str(a.backup_root / kept["path"])),
                              lost["id"]: (None, True, str(a.backup_root / lost["path"]))}


def test_backup_check_on_each_host_names_the_host_of_the_file_it_relies_on(hosts, three):
    a, b = hosts
    mine, kept, lost = three

    on_b = b.manage("backup", "--check")
    assert on_b.stdout.splitlines()[0].startswith("ok     default: ")
    assert on_b.stdout.splitlines()[0].endswith(f" (backup #{lost['id']}, its file on host host-a)")
    on_a = a.manage("backup", "--check", check=False)
    assert on_a.returncode == 1
    assert on_a.stdout.splitlines()[0] == (f"BAD    default: the file of the newest backup #{lost['id']} is missing "
                                           f"on host host-a; the last restorable backup is #{kept['id']}, "
                                           "0.0 hours old")
    healthz = admin_page(b, "/healthz")
    assert json.loads(healthz["html"])["targets"][0]["last_success_host"] == "host-a"

    orphans = b.manage("backup", "--list", "--orphans").stdout.splitlines()
    assert orphans == [f"0 files under {b.backup_root / 'database'} on this host (host-b) that no record knows "
                       "(none deleted)"]
    page = admin_page(b, "/admin/backups_app/retentionpolicy/")["html"]
    assert "unknown file" not in page  # host A's files are not unknown to host B: no button for none
    page = admin_page(b, "/admin/backups_app/retentionpolicy/orphans/")["html"]
    assert "Files under BACKUP_ROOT of host host-b that no backup record knows" in page


def test_a_host_that_lost_its_own_file_says_so_by_name(hosts, three):
    a, b = hosts
    _mine, _kept, lost = three
    path = a.backup_root / lost["path"]

    restore = a.manage("restore", str(lost["id"]), "--into", "two_hosts_never_made", check=False)
    assert restore.returncode == 1
    assert restore.stderr.strip().splitlines()[-1] == (
        f"CommandError: restore refused: the file of backup #{lost['id']} is missing on host host-a ({path})")
    verify = a.manage("verify", str(lost["id"]), check=False)
    assert verify.returncode == 1
    assert verify.stderr.strip().splitlines()[-1] == (
        f"CommandError: backup #{lost['id']} failed verification: the file is missing on host host-a ({path})")
    assert backup_row(b, lost["id"])["last_verify_detail"] == f"the file is missing on host host-a ({path})"


def test_the_admin_list_and_page_say_which_host_has_each_file(hosts, three):
    a, b = hosts
    mine, kept, lost = three

    listed = admin_page(b, BACKUPS)["html"]
    # In each one's status cell, beside its state.
    assert listed.count('<span class="bc-badge bc-where">on host host-a</span>') == 2  # kept and lost
    assert "file missing" not in listed
    assert 'class="bc-badge bc-badge-bad bc-where bc-missing">file missing</span>' in admin_page(a, BACKUPS)["html"]

    page = admin_page(b, f"{BACKUPS}{kept['id']}/change/")["html"]
    assert "on host host-a, not on this host (host-b)" in page
    assert f"/{kept['id']}/download/dump/" not in page  # nothing here to download
    assert "download it there" in page
    page = admin_page(b, f"{BACKUPS}{mine['id']}/change/")["html"]
    assert "on this host (host-b)" in page and f"/{mine['id']}/download/dump/" in page
    page = admin_page(a, f"{BACKUPS}{lost['id']}/change/")["html"]
    assert ("missing: it is not under this host&#x27;s BACKUP_ROOT (host-a), nor on another host, nor in object "
            "storage") in page


def test_a_download_of_a_file_only_another_host_has_names_that_host(hosts, s3_server):
    a, b = hosts
    kept = backup_on(a)
    url = f"{BACKUPS}{kept['id']}/download/dump/"
    name = kept["path"].rsplit("/", 1)[-1]

    got = admin_page(b, url)
    said = f"backup #{kept['id']}'s file is on host host-a, not on this host (host-b): download it there"
    assert (got["status"], got["attachment"], got["redirects"]) == (200, "", [f"{BACKUPS}{kept['id']}/change/"])
    assert got["messages"] == [said]
    assert admin_history(b)[-1] == f"Download of {name} refused: {said}"

    add_storage(a, s3_server)  # the copy in object storage, checked, is downloaded from any host
    a.manage("backup", "--copy-offsite", str(kept["id"]))
    got = admin_page(b, url)
    assert got["attachment"] and got["size"] == kept["size_bytes"]
    assert admin_history(b)[-1].startswith(f"Downloaded {name} (from s3://")


@pytest.fixture
def aged(hosts):
    """Backups 40 days old: #1 on host B, #2 and #3 on host A; then #4, new, on host B."""
    a, b = hosts
    old = [backup_on(b), backup_on(a), backup_on(a)]
    newest = backup_on(b)
    b.shell(f"""
        from datetime import timedelta
        from django.utils import timezone
        from backups_app.models import BackupRecord
        BackupRecord.objects.filter(pk__in={[r['id'] for r in old]!r}).update(
            created_at=timezone.now() - timedelta(days=40), finished_at=timezone.now() - timedelta(days=40))
    """)
    return old, newest


def test_the_prune_preview_says_which_backups_another_host_deletes(hosts, aged):
    _a, b = hosts
    old, _newest = aged
    policy = b.shell_json("""
        import json
        from backups_app.models import RetentionPolicy
        print(json.dumps(RetentionPolicy.objects.create(name="newest only", keep_days=None, keep_last=1).pk))
    """)

    page = admin_page(b, "/admin/backups_app/retentionpolicy/",
                      {"action": "prune_now", "_selected_action": [policy]})["html"]
    assert "1 backups kept, 3 deleted." in page
    assert ("2 of them are deleted by host host-a, whose BACKUP_ROOT holds their files: a prune that runs "
            "elsewhere hands them to that host.") in page
    assert page.count('<span class="preview-host">deleted by host host-a, which has its file</span>') == 2
    rows = page.split('<table class="preview-deleted">')[1].split("</table>")[0].split("<tr>")
    handed = [row for row in rows if "preview-host" in row]
    assert sorted(int(row.split("<td>#")[1].split("<")[0]) for row in handed) == [r["id"] for r in old[1:]]


def test_cleanup_dry_run_counts_only_what_this_host_deletes(hosts, aged):
    _a, b = hosts
    old, _newest = aged

    dry = b.manage("backup", "--cleanup", "--keep-days", "30", "--dry-run").stdout.splitlines()
    assert dry[-1] == "Would delete 1 backups; 2 left to the hosts that have their files (dry run)"
    for r in old[1:]:
        assert any(line.startswith(f"#{r['id']} default manual ") and line.endswith(
            f" {r['path']}: would be kept here: its local file is on host host-a; run backup --cleanup there")
            for line in dry), dry
    done = b.manage("backup", "--cleanup", "--keep-days", "30").stdout.splitlines()
    assert done[-1] == "Deleted 1 backups; 2 left to the hosts that have their files"


def test_the_dashboard_names_the_host_whose_disk_it_shows(hosts, three):
    a, b = hosts
    mine, _kept, _lost = three

    page = admin_page(b, "/admin/")["html"]
    assert "Disk of host host-b: " in page and f"under {b.backup_root}." in page
    growth = b.shell_json("""
        import json
        from backups_app.services.monitoring import disk
        print(json.dumps(disk.disk_report().growth_per_day))
    """)
    assert growth * 14 == pytest.approx(mine["size_bytes"])  # host A's files are on host A's disk
