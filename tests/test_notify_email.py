"""Email notifications through Django's SMTP backend to a real local SMTP server (aiosmtpd)."""

import time

import pytest

from backups_app.models import NotificationChannel, VerificationRecord
from backups_app.services.jobs import lifecycle as jobs
from tests.notify_records import TARGET_PASSWORD, channel, ended_backup, target
from tests.notify_servers import closed_port, silent_server, smtp_server
from tests.retention_records import new_backup

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def smtp(settings):
    with smtp_server() as (port, inbox):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.DEFAULT_FROM_EMAIL = "console@example.test"
        yield inbox


def wait_for(inbox, n=1):
    deadline = time.monotonic() + 5
    while len(inbox) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return inbox


def test_a_failed_backup_is_mailed_to_every_address_of_the_channel(smtp, monkeypatch):
    channel("email", "ops@example.test, dba@example.test")
    ended_backup(target(monkeypatch), ok=False, error=f"pg_dump failed; password={TARGET_PASSWORD}")
    [mail] = wait_for(smtp)
    assert mail["from"] == "console@example.test"
    assert sorted(mail["to"]) == ["dba@example.test", "ops@example.test"]
    assert "Subject: [Backup Console] Backup of sales failed" in mail["data"]
    assert "pg_dump failed" in mail["data"] and TARGET_PASSWORD not in mail["data"]
    assert NotificationChannel.objects.get().last_sent_at is not None


def test_a_failed_drill_is_mailed_as_a_failed_drill(smtp, monkeypatch, backup_root):
    channel("email", "ops@example.test")
    backup = new_backup(target(monkeypatch))
    record = VerificationRecord.objects.create(backup=backup, drill=True)
    assert jobs.claim(VerificationRecord, record.pk)
    record.refresh_from_db()
    jobs.finish(record, ok=False, error="drill restore #3 failed: table public.x is missing")
    [mail] = wait_for(smtp)
    assert "Subject: [Backup Console] Restore drill of sales failed" in mail["data"]
    assert "table public.x is missing" in mail["data"]


def test_an_smtp_server_that_is_down_leaves_the_job_alone_and_the_reason_on_the_channel(settings, monkeypatch):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", closed_port()
    settings.EMAIL_HOST_PASSWORD = "smtp-Secret-99"
    channel("email", "ops@example.test")
    record = ended_backup(target(monkeypatch), ok=False, error="the real reason")
    record.refresh_from_db()
    assert (record.status, record.error) == ("failed", "the real reason")
    made = NotificationChannel.objects.get()
    assert "Connection refused" in made.last_error or "ConnectionRefused" in made.last_error, made.last_error
    assert f"(mail server 127.0.0.1:{settings.EMAIL_PORT})" in made.last_error  # where it tried, to fix it
    assert "smtp-Secret-99" not in made.last_error


def test_an_smtp_server_that_never_answers_times_out(settings, monkeypatch):
    settings.NOTIFY_TIMEOUT_SECONDS = 0.5
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with silent_server() as port:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        channel("email", "ops@example.test")
        started = time.monotonic()
        ended_backup(target(monkeypatch), ok=False, error="boom")
        assert time.monotonic() - started < 5
    assert "timed out" in NotificationChannel.objects.get().last_error


def test_a_channel_needs_real_addresses():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        channel("email", "ops@example.test, not-an-address")
