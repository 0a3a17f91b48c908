"""Jobs that end through the real lifecycle (claim, finish), for the notification tests; no PostgreSQL needed."""

from backups_app.models import BackupRecord, DatabaseTarget, NotificationChannel
from backups_app.services.backups import dump
from backups_app.services.jobs import lifecycle as jobs

TARGET_PASSWORD = "tgt-Pa55-w0rd-never-shown"
PASSWORD_ENV = "BACKUP_PG_PASSWORD_NOTIFY"


def target(monkeypatch, name="sales", **fields) -> DatabaseTarget:
    monkeypatch.setenv(PASSWORD_ENV, TARGET_PASSWORD)
    defaults = dict(dbname=name, host="127.0.0.1", password_source="env", password_env=PASSWORD_ENV)
    return DatabaseTarget.objects.create(name=name, **{**defaults, **fields})


def ended_backup(target, *, ok: bool, error: str = "") -> BackupRecord:
    record = dump.backup_create(target=target, backup_type="manual", fmt="custom", started_by="test")
    assert jobs.claim(BackupRecord, record.pk)
    record.refresh_from_db()
    jobs.finish(record, ok=ok, error=error)
    return record


def channel(kind: str, destination: str, **fields) -> NotificationChannel:
    made = NotificationChannel(name=fields.pop("name", f"{kind} channel"), kind=kind, destination=destination,
                               **fields)
    made.full_clean()
    made.save()
    return made
