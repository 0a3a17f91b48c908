"""The API's routes: each checks its permission first, then reads its input, calls one service, and answers.

Whatever a call changes is written to the admin history on the object it
touched, naming the API token (history.py). An id or name that does not
exist is 404, but only for a token whose user may see such objects: a
refused permission is 403 before anything is looked up.
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Path, Query, Router, Status

from backups_app.api import history
from backups_app.api.auth import Denied, Token
from backups_app.api.jobs import KINDS, find, job_out
from backups_app.api.schemas import (
    MAX_ID,
    BackupIn,
    BackupList,
    BackupOut,
    BackupTypeName,
    Error,
    JobKind,
    JobOut,
    PinIn,
    RestoreIn,
    StatusName,
    TargetOut,
    ValidationFailed,
    VerifyIn,
    backup_out,
    target_out,
)
from backups_app.models import BackupFormat, BackupRecord, BackupType, DatabaseTarget
from backups_app.services.backups import dump, server_run
from backups_app.services.jobs import lifecycle, queue
from backups_app.services.monitoring import health
from backups_app.services.postgres import names
from backups_app.services.retention import pins
from backups_app.services.targets import agreement

router = Router()

VIEW_TARGETS, VIEW_BACKUPS = "backups_app.view_databasetarget", "backups_app.view_backuprecord"
ERRORS = {401: Error, 403: Error, 404: Error, 409: Error, 422: ValidationFailed, 429: Error}
BACKUP_ID = Path(..., ge=1, le=MAX_ID, description="A backup's id.")
SINCE = Query(None, description="Only backups created at or after this time.")
# Any database name PostgreSQL allows, which is anything but NUL (no database, and the console's own on PostgreSQL,
# can hold one).
DATABASE = Query(None, max_length=63, pattern=r"^[^\x00]*$", description="A database's name.")


class Problem(Exception):
    """An answer other than success: the status and one line (site.py makes it JSON)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# --- reading ----------------------------------------------------------------------------

@router.get("/targets", response={200: list[TargetOut], **ERRORS}, auth=Token(VIEW_TARGETS, what="see targets"),
            summary="List the targets")
def list_targets(request):
    """Every target: single databases, server targets, and the databases their runs found."""
    return [target_out(t) for t in DatabaseTarget.objects.select_related("server").order_by("name")]


@router.get("/backups", response={200: BackupList, **ERRORS}, auth=Token(VIEW_BACKUPS, what="see backups"),
            summary="List backups, newest first")
def list_backups(request, target: str | None = Query(None, max_length=100, description="A target's name (a "
                                                     "server target: every database of it)."),
                 database: str | None = DATABASE,
                 status: StatusName | None = None, type: BackupTypeName | None = None,
                 since: datetime | None = SINCE,
                 limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000)):
    found = BackupRecord.objects.select_related("target", "target__server").order_by("-created_at", "-id")
    if target is not None:
        found = found.filter(target_id__in=_scope(_target(target)))
    if database is not None:
        found = found.filter(target__dbname=database)
    if status is not None:
        found = found.filter(status=status)
    if type is not None:
        found = found.filter(backup_type=type)
    if since is not None:
        found = found.filter(created_at__gte=_moment(since))
    items = [backup_out(r) for r in found[offset:offset + limit]]
    return {"count": found.count(), "limit": limit, "offset": offset, "items": items}


@router.get("/backups/{backup_id}", response={200: BackupOut, **ERRORS},
            auth=Token(VIEW_BACKUPS, what="see backups"), summary="One backup")
def get_backup(request, backup_id: int = BACKUP_ID):
    return backup_out(_backup(backup_id))


@router.get("/health", response={200: dict, **ERRORS}, auth=Token(VIEW_TARGETS, VIEW_BACKUPS, what="see health"),
            summary="Health of every target, as /healthz and backup --check say")
def get_health(request):
    return health.health_report(detail=True)


@router.get("/jobs/{kind}/{job_id}", response={200: JobOut, **ERRORS}, auth=Token(), url_name="job",
            summary="A job: status, progress, result, error")
def get_job(request, kind: JobKind, job_id: int = Path(..., ge=1, le=MAX_ID)):
    return job_out(_job(request, kind, job_id))


@router.get("/jobs/{kind}/{job_id}/wait", response={200: JobOut, **ERRORS}, auth=Token(), url_name="job-wait",
            summary="Wait for a job to end (long poll)")
def wait_job(request, kind: JobKind, job_id: int = Path(..., ge=1, le=MAX_ID),
             timeout: float = Query(30, ge=0, le=3600, description="Seconds to wait at most (capped by "
                                                                    "API_WAIT_MAX_SECONDS).")):
    """Answers as soon as the job has ended, or after `timeout` seconds with it as it stands (`done` false)."""
    record = _job(request, kind, job_id)
    lifecycle.wait_for_end(type(record), record.pk, timeout=min(timeout, settings.API_WAIT_MAX_SECONDS))
    return job_out(find(kind, job_id))


# --- doing ------------------------------------------------------------------------------

@router.post("/targets/{name}/backups", response={202: JobOut, **ERRORS},
             auth=Token("backups_app.run_backup", what="run backups"), summary="Start a backup")
def start_backup(request, body: BackupIn, name: str = Path(..., max_length=100)):
    """Queues a backup of the target (of every database, for a server target) and answers with the job at once."""
    target = _target(name)
    if not target.is_active:
        raise Problem(409, f"target {target.name} is inactive: nothing was queued")
    if refused := agreement.mismatch(target):
        raise Problem(409, refused)
    words = {"type": BackupType(body.type).label, "format": BackupFormat(body.format).label}
    with transaction.atomic():
        if target.is_server:
            record = server_run.run_create(target=target, backup_type=body.type, fmt=body.format,
                                           started_by=_who(request), requested_by=request.user)
            queue.enqueue_server_run(record)
            history.changed(request, target, _("Queued server run #%(id)s of every database (%(type)s, "
                                               "%(format)s).") % {"id": record.pk, **words})
        else:
            record = dump.backup_create(target=target, backup_type=body.type, fmt=body.format,
                                        started_by=_who(request), requested_by=request.user)
            queue.enqueue_backup(record)
            history.changed(request, target, _("Queued backup #%(id)s (%(type)s, %(format)s).") % {
                "id": record.pk, **words})
            history.added(request, record, _("Queued through the API."))
    return Status(202, job_out(record))


@router.post("/backups/{backup_id}/verify", response={202: JobOut, **ERRORS},
             auth=Token("backups_app.run_backup", what="verify backups"), summary="Verify a backup")
def verify_backup(request, body: VerifyIn, backup_id: int = BACKUP_ID):
    from backups_app.services.verify import verify

    backup = _backup(backup_id)
    with transaction.atomic():
        try:
            record = verify.verify_create(backup=backup, drill=body.drill, started_by=_who(request),
                                          requested_by=request.user)
        except verify.VerifyRefused as exc:
            raise Problem(409, str(exc)) from None
        queue.enqueue_verify(record)
        message = (_("Queued verification #%(id)s with a restore drill.") if body.drill
                   else _("Queued verification #%(id)s.")) % {"id": record.pk}
        history.changed(request, backup, message)
        history.added(request, record, message)
    return Status(202, job_out(record))


@router.post("/backups/{backup_id}/restore", response={202: JobOut, **ERRORS},
             auth=Token("backups_app.run_restore", what="restore backups"), summary="Restore a backup")
def restore_backup(request, body: RestoreIn, backup_id: int = BACKUP_ID):
    """Checks everything it can first (one line in a 409 when it refuses, nothing created), then queues it."""
    from backups_app.services.restores import restore

    backup = _backup(backup_id)
    server = _target(body.server, status=409) if body.server else None
    with transaction.atomic():
        try:
            record = restore.restore_create(
                backup=backup, into=body.into, tables=tuple(body.tables), overwrite=body.overwrite,
                with_globals=body.with_globals, jobs=body.jobs, force=body.force, server=server,
                no_owner=body.no_owner or None, no_acl=body.no_acl or None,
                terminate_connections=body.terminate_connections, started_by=_who(request),
                requested_by=request.user)
        except restore.RestoreRefused as exc:
            raise Problem(409, str(exc)) from None
        queue.enqueue_restore(record)
        message = (_("Queued restore #%(id)s into database %(into)s, overwriting it.") if record.overwrite
                   else _("Queued restore #%(id)s into database %(into)s.")) % {
            "id": record.pk, "into": record.target_database}
        history.changed(request, backup, message)
        history.added(request, record, message)
    return Status(202, job_out(record))


@router.post("/backups/{backup_id}/pin", response={200: BackupOut, **ERRORS},
             auth=Token("backups_app.change_backuprecord", what="pin backups"), summary="Pin a backup (legal hold)")
def pin_backup(request, body: PinIn, backup_id: int = BACKUP_ID):
    backup = _backup(backup_id)
    try:
        pins.backup_pin(backup=backup, reason=body.reason, pinned_by=_who(request))
    except pins.PinRefused as exc:
        raise Problem(409, str(exc)) from None
    history.changed(request, backup, _("Pinned: %(reason)s") % {"reason": backup.pinned_reason})
    return backup_out(backup)


@router.delete("/backups/{backup_id}/pin", response={200: BackupOut, **ERRORS},
               auth=Token("backups_app.change_backuprecord", what="unpin backups"), summary="Lift a backup's pin")
def unpin_backup(request, backup_id: int = BACKUP_ID):
    backup = _backup(backup_id)
    if backup.pinned:
        reason = backup.pinned_reason
        pins.backup_unpin(backup=backup)
        history.changed(request, backup, _("Unpinned (it was pinned because: %(reason)s)") % {"reason": reason})
    return backup_out(backup)


# --- helpers ----------------------------------------------------------------------------

def _who(request) -> str:
    return f"{request.user.get_username()} (API token {request.auth.name})"


def _target(name: str, *, status: int = 404) -> DatabaseTarget:
    found = DatabaseTarget.objects.select_related("server").filter(name=name).first() \
        if names.is_target_name(name) else None
    if found is None:
        raise Problem(status, f"no target named {name!r}")
    return found


def _scope(target) -> list[int]:
    from backups_app import selectors

    return selectors.scope_ids(target)


def _backup(pk: int) -> BackupRecord:
    found = BackupRecord.objects.select_related("target", "target__server").filter(pk=pk).first()
    if found is None:
        raise Problem(404, f"no backup #{pk}")
    return found


def _job(request, kind: str, pk: int):
    _model, permission, what = KINDS[kind]
    if not request.user.has_perm(permission):  # before the lookup: a refusal says nothing of the job
        raise Denied(f"the user of this token ({request.user.get_username()}) may not {what}")
    record = find(kind, pk)
    if record is None:
        raise Problem(404, f"no {kind.replace('_', ' ')} #{pk}")
    return record


def _moment(since: datetime) -> datetime:
    """An aware time the database can compare with; 422 for one it cannot hold."""
    try:
        if timezone.is_naive(since):
            since = timezone.make_aware(since)
        # In UTC: PostgreSQL refuses offsets beyond 15:59 that ISO 8601 (and Python) allow, e.g. +23:52.
        return since.astimezone(UTC)
    except (OverflowError, ValueError):
        raise Problem(422, f"since: {since.isoformat()} is out of range") from None
