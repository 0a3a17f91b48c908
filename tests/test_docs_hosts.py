"""docs/deploy.md's hosts, word for word: every line it quotes is what the code says, run as that host would run it.

The doc's example is backup #17, made by host backup-a; this process plays
host backup-b (or backup-a) through CONSOLE_HOST_NAME. The records are real
rows; a file "on host backup-a" is one that is not under this BACKUP_ROOT.
"""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils.translation import ngettext

from backups_app.admin.backups import queued_item
from backups_app.models import BackupRecord, BackupStorage
from backups_app.services.backups import copy_offsite as copying
from backups_app.services.jobs import broker, placement
from backups_app.services.retention import prune as pruning
from backups_app.services.retention.prune import Pruned
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db

DEPLOY = " ".join((Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text().split())


def in_docs(text: str) -> bool:
    return " ".join(text.split()) in DEPLOY


@pytest.fixture
def made_on_backup_a(backup_root):
    """A backup host backup-a made (its file is not here), #17 as in the docs."""
    def make(age_days=100, **fields) -> BackupRecord:
        record = new_backup(new_target(), age_days=age_days, host="backup-a", **fields)
        record.absolute_path.unlink()
        BackupRecord.objects.filter(pk=record.pk).update(id=17)
        return BackupRecord.objects.select_related("target").get(pk=17)
    return make


def test_a_command_on_another_host_says_which_host_can(made_on_backup_a, settings):
    settings.CONSOLE_HOST_NAME = "backup-b"
    backup = made_on_backup_a(offsite_status="uploading")
    said = placement.refusal(backup, doing="verify", reading=True)
    assert in_docs(f"CommandError: {said}"), said


def test_the_admin_names_the_host_a_job_runs_on():
    said = ngettext("Queued the verification of %(n)d backup: %(list)s.",
                    "Queued the verification of %(n)d backups: %(list)s.", 1) % {
        "n": 1, "list": queued_item(BackupRecord(pk=17), "backup-a")}
    assert in_docs(said), said


def test_each_host_has_a_list_of_its_own_in_the_broker():
    assert broker.host_queue("NAME") == "backupconsole@NAME"
    assert in_docs("(`backupconsole@NAME` in the broker)")


@pytest.fixture
def storage(db):
    return BackupStorage.objects.create(name="offsite", kind="s3", bucket="b", is_default=True)


def test_a_worker_hands_a_copy_to_the_host_that_has_the_file(made_on_backup_a, storage, settings,
                                                            django_capture_on_commit_callbacks):
    settings.CONSOLE_HOST_NAME = "backup-b"
    backup = made_on_backup_a()
    with django_capture_on_commit_callbacks(execute=True):
        said = copying.copy_queued(record_id=backup.pk)
    assert said == "handed to host backup-a, which has the file of backup #17"
    assert in_docs("*handed to host backup-a*")
    assert BackupRecord.objects.get(pk=17).offsite_status == ""


def test_a_copy_that_cannot_be_made_on_its_host_fails_and_says_why(made_on_backup_a, storage, settings):
    settings.CONSOLE_HOST_NAME = "backup-a"
    backup = made_on_backup_a()
    with pytest.raises(copying.CopyRefused):
        copying.copy_queued(record_id=backup.pk)
    backup.refresh_from_db()
    assert backup.offsite_status == "failed"
    assert backup.offsite_detail == ("copy to object storage on host backup-a refused: backup #17 cannot be uploaded: "
                                     f"its local file {backup.path} is gone")
    assert in_docs("*failed*, e.g. *copy to object storage on host backup-a refused: backup #17 cannot be uploaded: "
                   "its local file database/manual/... is gone*")


def test_a_prune_says_what_it_left_to_another_host():
    said = Pruned([BackupRecord(pk=n) for n in (1, 2, 3)], left={"backup-a": [4, 5]}).summary()
    assert said == "pruned 3; 2 left to host backup-a, which has their files"
    assert in_docs(f"*{said}*")


def test_cleanup_keeps_another_hosts_backup_and_says_where_to_run_it(made_on_backup_a, settings):
    settings.CONSOLE_HOST_NAME = "backup-b"
    backup = made_on_backup_a()
    new_backup(backup.target, age_days=1)  # the newest stays whatever the rules say
    out = StringIO()
    call_command("backup", "--cleanup", "--keep-days", "30", stdout=out)
    line = "kept #17: its local file is on host backup-a; run backup --cleanup there"
    assert line in out.getvalue().splitlines()
    assert in_docs(f"`{line.replace('#17', '#N')}`")
    assert BackupRecord.objects.get(pk=17).status == "succeeded"


def test_the_list_names_the_host_that_has_a_file(made_on_backup_a, settings):
    settings.CONSOLE_HOST_NAME = "backup-b"
    backup = made_on_backup_a()
    out = StringIO()
    call_command("backup", "--list", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1].endswith(f"  {backup.path}  (on host backup-a)") and in_docs("`(on host backup-a)`")
    assert lines[-1] == "1 backups; 1 on host backup-a" and in_docs(f"`{lines[-1]}`")
    out = StringIO()
    call_command("backup", "--list", "--json", stdout=out)
    [listed] = json.loads(out.getvalue())
    assert (listed["host"], listed["file_missing"]) == ("backup-a", False)
    assert in_docs('`"host": "backup-a"` and `"file_missing": false`')


def test_check_names_the_host_of_the_file_it_relies_on_and_that_host_says_it_is_gone(made_on_backup_a, settings):
    settings.CONSOLE_HOST_NAME = "backup-b"
    made_on_backup_a(age_days=0)
    out = StringIO()
    call_command("backup", "--check", stdout=out)
    assert out.getvalue().splitlines()[0].endswith(" (backup #17, its file on host backup-a)")
    assert in_docs("`(backup #17, its file on host backup-a)`")
    settings.CONSOLE_HOST_NAME = "backup-a"
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("backup", "--check", stdout=out)
    said = "the file of the newest backup #17 is missing on host backup-a"
    assert said in out.getvalue() and in_docs(f"`{said}`")


def test_a_download_only_another_host_can_send_is_refused_in_the_docs_words(made_on_backup_a, settings):
    settings.CONSOLE_HOST_NAME = "backup-b"
    said = placement.refusal(made_on_backup_a(), doing="download", reading=True)
    assert in_docs(f"*{said}*"), said


def test_the_prune_preview_and_the_dry_run_count_what_another_host_deletes(made_on_backup_a, settings):
    settings.CONSOLE_HOST_NAME = "backup-b"
    backup = made_on_backup_a()
    assert pruning.left_to(backup) == "backup-a"
    said = ngettext("%(counter)s of them is deleted by host %(host)s, whose BACKUP_ROOT holds its file: a prune "
                    "that runs elsewhere hands it to that host.",
                    "%(counter)s of them are deleted by host %(host)s, whose BACKUP_ROOT holds their files: a "
                    "prune that runs elsewhere hands them to that host.", 2) % {"counter": 2, "host": "backup-a"}
    assert in_docs(f"*{said}*")
    new_backup(backup.target, age_days=1)
    out = StringIO()
    call_command("backup", "--cleanup", "--keep-days", "30", "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[-1] == "Would delete 0 backups; 1 left to the hosts that have their files " \
                                              "(dry run)"
    assert in_docs("`Would delete 1 backups; 2 left to the hosts that have their files (dry run)`")


def test_each_host_names_itself_for_its_own_folder(settings, backup_root):
    settings.CONSOLE_HOST_NAME = "backup-b"
    out = StringIO()
    call_command("backup", "--list", "--orphans", stdout=out)
    assert out.getvalue().strip().endswith(" on this host (backup-b) that no record knows (none deleted)")
    assert in_docs("`... on this host (backup-b) that no record knows (none deleted)`")
    assert in_docs("*Files under BACKUP_ROOT of host backup-b that no backup record knows*")
