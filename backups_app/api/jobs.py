"""Jobs as the API shows them: every kind in one shape, with what it produced so far."""

from django.urls import reverse

from backups_app.models import BackupRecord, RestoreRecord, ServerRun, VerificationRecord

# kind -> (model, the permission to see it, in words)
KINDS = {
    "backup": (BackupRecord, "backups_app.view_backuprecord", "see backups"),
    "restore": (RestoreRecord, "backups_app.view_restorerecord", "see restores"),
    "verification": (VerificationRecord, "backups_app.view_verificationrecord", "see verifications"),
    # A server run is a set of backups: whoever may see backups may see it (as in the admin).
    "server_run": (ServerRun, "backups_app.view_backuprecord", "see server runs"),
}
RELATED = {"backup": ["target", "target__server"], "restore": ["server", "backup__target"],
           "verification": ["backup__target"], "server_run": ["target"]}
ENDED = ("succeeded", "failed", "partly_failed", "pruned")


def kind_of(record) -> str:
    return next(kind for kind, (model, _p, _w) in KINDS.items() if isinstance(record, model))


def find(kind: str, pk: int):
    model = KINDS[kind][0]
    return model.objects.select_related(*RELATED[kind]).filter(pk=pk).first()


def job_out(record) -> dict:
    kind = kind_of(record)
    target = _target(kind, record)
    url = reverse("api:job", kwargs={"kind": kind, "job_id": record.pk})
    done = record.status in ENDED
    return {
        "kind": kind, "id": record.pk, "status": record.status, "done": done,
        "ok": (record.status in ("succeeded", "pruned")) if done else None,
        "target": target.name if target is not None else None,
        "database": None if target is None or target.is_server else target.dbname,
        "created_at": record.created_at, "started_at": record.started_at, "finished_at": record.finished_at,
        "duration_seconds": record.duration_seconds,
        "bytes_written": record.bytes_written if kind == "backup" else None,
        "error": record.error, "result": RESULTS[kind](record), "url": url, "wait_url": f"{url}/wait",
    }


def _target(kind: str, record):
    if kind == "restore":
        return record.backup.target
    if kind == "verification":
        return record.backup.target
    return record.target


def _backup(record) -> dict:
    return {"path": record.path or None, "size_bytes": record.size_bytes, "sha256": record.sha256 or None,
            "type": record.backup_type, "format": record.format, "offsite": record.offsite_status or None,
            "server_run": record.server_run_id}


def _restore(record) -> dict:
    return {"backup": record.backup_id, "into": record.target_database, "server": record.server.name,
            "address": record.server_address, "rows_restored": record.rows_restored, "detail": record.detail,
            "safety_backup": record.safety_backup_id}


def _verification(record) -> dict:
    return {"backup": record.backup_id, "drill": record.drill, "passed": record.ok, "detail": record.detail,
            "restore_seconds": record.restore_seconds}


def _server_run(record) -> dict:
    return {"databases": record.databases, "added": record.added, "dropped": record.dropped,
            "failed_databases": record.failed_databases,
            "backups": list(record.backups.order_by("pk").values_list("pk", flat=True)), "detail": record.detail}


RESULTS = {"backup": _backup, "restore": _restore, "verification": _verification, "server_run": _server_run}
