"""Who started a job and why a backup was pruned are stored as codes, and read in the reader's language.

Rows written before the codes (English words, or Japanese from a worker that
ran in Japanese) are read back into codes by the migration, so they read
right in either language too.
"""

import importlib

import pytest
from django.apps import apps
from django.urls import reverse
from django.utils import translation

from backups_app.models import BackupRecord
from backups_app.services.jobs import origin
from backups_app.services.retention import prune as pruning
from backups_app.services.retention import reasons
from tests.retention_records import new_backup, new_target

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.admin_fixtures"]
MIGRATION = importlib.import_module("backups_app.migrations.0018_job_progress_log_origin_and_prunes")


@pytest.mark.parametrize(("words", "kind", "name"), [
    ("command line", origin.COMMAND, ""), ("schedule shop nightly", origin.SCHEDULE, "shop nightly"),
    ("admin", origin.USER, "admin"), ("safety backup before restore #7", origin.SAFETY, "7"),
    ("drill of verification #3", origin.DRILL, "3"), ("adopted from its file", origin.ADOPTED, ""), ("", "", "")])
def test_who_started_a_job_is_read_from_the_words_services_write(words, kind, name):
    assert origin.parse(words) == (kind, name)


def test_who_started_a_job_reads_in_japanese_on_a_japanese_page(superuser_client, backup_root):
    record = new_backup(new_target(), **origin.fields("command line"))
    superuser_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[record.pk])).content.decode()
    assert "コマンドライン" in page and "command line" not in page


def test_a_prune_stores_its_reason_as_a_code_and_the_english_words_beside_it(backup_root):
    target = new_target()
    new_backup(target, age_days=1)
    old = new_backup(target, age_days=40)
    from backups_app.models import RetentionPolicy

    policy = RetentionPolicy.objects.create(name="thirty", target=target, keep_days=30)
    with translation.override("ja"):  # a worker running in Japanese
        pruning.prune_policy(policy_id=policy.pk, started_by="alice")
    old.refresh_from_db()
    assert old.pruned_why == {"code": reasons.OLDER_THAN, "days": 30, "by": "alice"}
    assert old.pruned_reason == "deleted: older than 30 days and no rule keeps it [alice]"


def test_a_reason_stored_in_japanese_reads_in_english_once_read_back_into_a_code(superuser_client, backup_root):
    record = new_backup(new_target(), status="pruned", pruned_reason="削除: 残すルールがありません [admin]")
    other = new_backup(new_target("db2"), status="pruned", pruned_reason="removed by hand on a Sunday")
    MIGRATION.words_to_codes(apps, None)
    record.refresh_from_db()
    assert record.pruned_why == {"code": reasons.NO_RULE, "by": "admin"}
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[record.pk])).content.decode()
    assert "deleted: no rule keeps it (started by admin)" in page and "削除" not in page
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[other.pk])).content.decode()
    assert "removed by hand on a Sunday" in page  # words that are no code stay as written


def test_old_rows_get_the_kind_of_who_started_them(backup_root):
    record = new_backup(new_target(), started_by="schedule nightly")
    BackupRecord.objects.filter(pk=record.pk).update(origin="", origin_name="")
    MIGRATION.words_to_codes(apps, None)
    record.refresh_from_db()
    assert (record.origin, record.origin_name) == (origin.SCHEDULE, "nightly")


def test_a_backup_is_named_by_its_targets_name_not_its_id(backup_root):
    record = new_backup(new_target("sales"))
    assert str(record) == f"#{record.pk} sales daily custom"


def test_a_backups_page_shows_its_contents_as_words_not_json(superuser_client, backup_root):
    record = new_backup(new_target(), extensions={"plpgsql": "1.0"}, row_counts={"public.fx_ticks": 1200})
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_change", args=[record.pk])).content.decode()
    assert "plpgsql 1.0" in page and "<td>public.fx_ticks</td><td>1,200</td>" in page
    assert "{&quot;plpgsql&quot;" not in page


def test_a_restore_of_the_whole_database_says_its_rows_were_not_counted(superuser_client, backup_root):
    from backups_app.models import RestoreRecord

    target = new_target()
    restore = RestoreRecord.objects.create(backup=new_backup(target), server=target, target_database="copy",
                                           status="succeeded", tables=["public.fx_ticks"])
    whole = RestoreRecord.objects.create(backup=new_backup(target), server=target, target_database="copy2",
                                         status="succeeded")
    page = superuser_client.get(reverse("admin:backups_app_restorerecord_change", args=[whole.pk])).content.decode()
    assert "not counted (the whole database)" in page
    page = superuser_client.get(reverse("admin:backups_app_restorerecord_change", args=[restore.pk])).content.decode()
    assert "public.fx_ticks" in page and "[&quot;public.fx_ticks&quot;]" not in page


def test_messages_keep_the_names_as_they_are_written(superuser_client, backup_root):
    from django.contrib.messages import get_messages  # noqa: F401  (the page draws them)

    target = new_target("broken-db")
    response = superuser_client.post(reverse("admin:backups_app_databasetarget_changelist"), {
        "action": "test_connection", "_selected_action": [target.pk]}, follow=True)
    assert "broken-db: needs attention" in response.content.decode()


def test_a_lost_job_is_said_lost_in_the_readers_language(superuser_client, backup_root):
    from backups_app.services.jobs.lifecycle import WORKER_LOST

    new_backup(new_target(), status="failed", error=WORKER_LOST)
    superuser_client.defaults["HTTP_ACCEPT_LANGUAGE"] = "ja"
    page = superuser_client.get(reverse("admin:backups_app_backuprecord_changelist")).content.decode()
    assert "ジョブが失われました" in page and WORKER_LOST not in page
