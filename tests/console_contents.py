"""A console with something on every page: targets fresh, stale, failed and anomalous, jobs of every kind,
a policy, a schedule, a notification channel and what it sent. For the pages-in-every-language tests and
the screenshots; no PostgreSQL needed (backup files are written, not dumped)."""

from datetime import time

from django.utils import timezone

from backups_app.models import (
    BackupSchedule,
    Notification,
    NotificationChannel,
    RestoreRecord,
    RetentionPolicy,
    VerificationRecord,
)
from backups_app.services.monitoring import anomaly
from tests.retention_records import new_backup, new_target

MB = 1024 ** 2
# Facts that come from outside the console (pg_dump's own words) and stay as they were written.
FOREIGN_TEXTS = ["pg_dump: error: connection to server failed: Connection refused"]


def fill_console() -> dict:
    sales = new_target("sales", notes="売上")
    for days in (20, 10, 3, 2, 1):
        new_backup(sales, age_days=days + 0.1, size_bytes=120 * MB, duration_seconds=64)
    newest = new_backup(sales, age_days=0.1, size_bytes=125 * MB, duration_seconds=71, last_verify_ok=True,
                        last_verified_at=timezone.now(), started_by="admin")
    new_backup(sales, age_days=0.05, status="running", with_file=False, bytes_written=40 * MB,
               started_at=timezone.now())
    new_backup(new_target("ledger"), age_days=4, size_bytes=30 * MB, duration_seconds=12, pinned=True,
               pinned_reason="監査 2026-118")
    failed = new_target("orders")
    new_backup(failed, age_days=0.5, size_bytes=10 * MB, duration_seconds=5)
    new_backup(failed, age_days=0.1, status="failed", error=FOREIGN_TEXTS[0])
    odd = new_target("ticks")
    for days in (4, 3, 2, 1):
        new_backup(odd, age_days=days, size_bytes=100 * MB, duration_seconds=30)
    anomaly.flag_size_anomaly(record=new_backup(odd, age_days=0.1, size_bytes=30 * MB, duration_seconds=9))
    restore = RestoreRecord.objects.create(backup=newest, server=sales, target_database="sales_restored",
                                           status="succeeded", duration_seconds=42, rows_restored=1200,
                                           finished_at=timezone.now())
    verification = VerificationRecord.objects.create(backup=newest, drill=True, status="succeeded", ok=True,
                                                     restore_seconds=40, finished_at=timezone.now())
    policy = RetentionPolicy.objects.create(name="本番: 14日", target=sales, keep_days=14, keep_weekly=8)
    schedule = BackupSchedule.objects.create(name="sales-nightly", target=sales, backup_type="daily",
                                             kind="daily", time_of_day=time(2, 30))
    channel = NotificationChannel.objects.create(name="運用チーム", kind="email", destination="ops@example.com")
    notification = Notification.objects.create(kind="backup_failed", target=failed, title="orders", delivered=1)
    return {"target": sales, "backup": newest, "restore": restore, "verification": verification,
            "policy": policy, "schedule": schedule, "channel": channel, "notification": notification}
