"""Freshness of backups, for `backup --check` and /healthz."""

from datetime import timedelta

from django.utils import timezone

from backups_app.models import BackupRecord, DatabaseTarget

DEFAULT_MAX_AGE_HOURS = 26


def freshness_report(*, max_age_hours: float | None = None, now=None) -> dict:
    now = now or timezone.now()
    max_age = timedelta(hours=max_age_hours or DEFAULT_MAX_AGE_HOURS)
    targets = []
    for target in DatabaseTarget.objects.filter(is_active=True):
        last = (BackupRecord.objects.filter(target=target, status="succeeded")
                .order_by("-finished_at").values_list("finished_at", flat=True).first())
        fresh = last is not None and now - last <= max_age
        targets.append({"target": target.name, "ok": fresh,
                        "last_success": last.isoformat() if last else None,
                        "max_age_hours": max_age.total_seconds() / 3600})
    return {"ok": all(t["ok"] for t in targets), "targets": targets}
