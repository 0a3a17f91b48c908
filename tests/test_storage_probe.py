"""Test storage: a small object written, read back and deleted, and one line that says what is wrong.

Against real S3 servers: moto and rclone's `serve s3` for a storage that
works; moto with its IAM checks switched on for keys that are wrong or
may not do everything (tests/s3server.py), a bucket never created, and an
endpoint nobody answers. From the admin action, the command line and the
service.
"""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from backups_app.models import BackupStorage
from backups_app.services.storage import probe
from tests.pgcluster import free_port
from tests.s3server import BUCKET, PREFIX, S3_TEST_KEY_ENV, S3_TEST_SECRET_ENV, docs_policy, storage_fields

pytest_plugins = ["tests.admin_fixtures", "tests.s3_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

# The policy docs/offsite.md gives, for the test bucket and prefix: enough, and each permission needed.
EVERYTHING = docs_policy()


def without(action: str) -> dict:
    return {**EVERYTHING, "Statement": [{**s, "Action": [a for a in s["Action"] if a != action]}
                                        for s in EVERYTHING["Statement"]]}


@pytest.fixture
def with_key(s3_server, s3_storage, monkeypatch):
    """The storage's variables hold a key of a moto user with this policy; moto checks every request."""
    def use(policy: dict, *, secret: str | None = None):
        key = s3_server.iam_user(f"console-{len(s3_server.iam().list_users()['Users'])}", policy)
        monkeypatch.setenv(S3_TEST_KEY_ENV, key["AccessKeyId"])
        monkeypatch.setenv(S3_TEST_SECRET_ENV, secret or key["SecretAccessKey"])
        s3_server.enforce_policies()
    yield use
    s3_server.enforce_policies(False)


def test_a_working_storage_passes_in_one_line_and_leaves_nothing_behind(each_s3_server, s3_credentials):
    storage = BackupStorage.objects.create(**storage_fields(each_s3_server))
    result = probe.test_storage(storage)
    assert result.ok, result.line
    assert result.line.startswith(f"offsite: OK: wrote, read back and deleted s3://{BUCKET}/{PREFIX}/"
                                  ".console-storage-test/"), result.line
    assert "the store keeps SHA-256 checksums of its own" in result.line  # both keep one of a single request
    assert each_s3_server.keys() == []
    assert each_s3_server.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_the_policy_in_the_docs_is_enough_for_every_step(s3_storage, with_key):
    with_key(EVERYTHING)
    result = probe.test_storage(s3_storage)
    assert result.ok, result.line


@pytest.mark.parametrize("action, step", [
    ("s3:PutObject", "write the test object"),
    ("s3:GetObject", "look the test object up"),
    ("s3:ListBucket", "list the objects under the prefix"),
    ("s3:ListBucketMultipartUploads", "abort an unfinished multipart upload"),
    ("s3:AbortMultipartUpload", "abort an unfinished multipart upload"),
    ("s3:DeleteObject", "delete the test object"),
])
def test_a_missing_permission_is_named_with_the_step_that_needs_it(s3_storage, with_key, action, step):
    with_key(without(action))
    result = probe.test_storage(s3_storage)
    assert not result.ok
    assert result.line.startswith(f"offsite: permission: the key may not {step} in s3://{BUCKET}/{PREFIX}/ "
                                  "(it needs "), result.line
    assert action in result.line
    assert "AccessDenied" in result.line or "403 Forbidden" in result.line  # a HEAD's refusal has no body


def test_a_wrong_secret_key_says_credentials(s3_storage, with_key):
    with_key(EVERYTHING, secret="not-the-secret")
    result = probe.test_storage(s3_storage)
    assert result.line.startswith("offsite: credentials: ") and "SignatureDoesNotMatch" in result.line, result.line


def test_an_unset_key_variable_says_credentials(s3_storage, monkeypatch):
    monkeypatch.delenv(S3_TEST_SECRET_ENV)
    result = probe.test_storage(s3_storage)
    assert result.line == (f"offsite: credentials: none usable for {s3_storage.endpoint_url}: storage offsite: "
                           f"the environment variable {S3_TEST_SECRET_ENV} is not set"), result.line


def test_a_bucket_never_created_says_bucket_and_what_to_do(s3_storage):
    s3_storage.bucket = "never-created"
    result = probe.test_storage(s3_storage)
    assert result.line == (f"offsite: bucket: {s3_storage.endpoint_url} has no bucket 'never-created'; create it "
                           "first (docs/offsite.md), or correct the storage's bucket"), result.line


def test_an_endpoint_nobody_answers_says_endpoint(s3_storage):
    s3_storage.endpoint_url = f"http://127.0.0.1:{free_port()}"
    result = probe.test_storage(s3_storage)
    assert result.line.startswith(f"offsite: endpoint: cannot reach {s3_storage.endpoint_url}: "), result.line


def test_the_admin_action_tells_each_storage_in_one_message(superuser_client, s3_storage):
    broken = BackupStorage.objects.create(**{**{f.name: getattr(s3_storage, f.name) for f in
                                                BackupStorage._meta.fields if f.name not in ("id", "created_at")},
                                             "name": "broken", "bucket": "never-created", "is_default": False})
    changelist = reverse("admin:backups_app_backupstorage_changelist")
    page = superuser_client.post(changelist, {"action": "test_storage", "_selected_action": [s3_storage.pk, broken.pk]},
                                 follow=True)
    said = [(m.level_tag, m.message) for m in page.context["messages"]]
    assert said[0][0] == "error" and said[0][1].startswith("broken: bucket: ")
    assert said[1][0] == "success" and said[1][1].startswith("offsite: OK: wrote, read back and deleted ")


def test_the_action_is_refused_to_a_role_without_the_storage_permission(as_role, s3_storage, s3_server):
    from backups_app.services.setup.roles import BACKUP_OPERATORS

    client = as_role(BACKUP_OPERATORS)
    changelist = reverse("admin:backups_app_backupstorage_changelist")
    response = client.post(changelist, {"action": "test_storage", "_selected_action": [s3_storage.pk]})
    assert response.status_code == 403
    assert s3_server.keys() == []


def test_the_command_prints_one_line_and_exits_non_zero_on_a_failure(s3_storage, capsys):
    call_command("test_storage", "offsite")
    assert capsys.readouterr().out.startswith("offsite: OK: wrote, read back and deleted ")
    s3_storage.bucket = "never-created"
    s3_storage.save()
    with pytest.raises(CommandError, match="^1 of 1 storages failed the test$"):
        call_command("test_storage")
    assert capsys.readouterr().err.startswith("offsite: bucket: ")
    with pytest.raises(CommandError, match=r"^no backup storage named nowhere \(there are: offsite\)$"):
        call_command("test_storage", "nowhere")
