"""The Jobs page: every backup, restore, verification, prune and server run, in flight and finished, watched live.

Pages of the admin site (console_site.get_urls), for whoever may see each
kind of job. The list and a job's progress are htmx fragments the page asks
for again every JOBS_POLL_SECONDS (JOB_POLL_SECONDS on a job's own page)
while something runs; a job that has ended stops asking. A job's own log
(its client programs' stderr, kept by services/jobs/joblog.py) is on its
page. Nothing here changes anything.
"""

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from backups_app import selectors
from backups_app.admin import display

LIST_POLL_SECONDS = 2
JOB_POLL_SECONDS = 1
STATES = ("active", "finished", "all")


def model_of(kind: str):
    if kind not in display.JOB_KINDS:
        raise Http404(kind)
    return apps.get_model("backups_app", display.JOB_KINDS[kind])


def visible_models(request) -> list:
    return [model_of(k) for k in display.JOB_KINDS
            if request.user.has_perm(f"backups_app.view_{display.JOB_KINDS[k].lower()}")]


def _rows(request) -> dict:
    state = request.GET.get("state", "all")
    state = state if state in STATES else "all"
    kind = request.GET.get("kind", "")
    models = [m for m in visible_models(request) if not kind or m is model_of(kind)]
    active = {"active": True, "finished": False}.get(state)
    jobs = selectors.recent_jobs(models=models, active=active)
    return {"jobs": [job_row(j) for j in jobs], "state": state, "kind": kind,
            "polling": LIST_POLL_SECONDS, "query": request.GET.urlencode()}


def job_row(record) -> dict:
    return {"record": record, "kind": display.job_kind(record), "kind_label": kind_label(record),
            "url": display.job_url(record), "what": what(record), "who": display.started_by(record),
            "when": display.when(record.created_at), "status": display.status_badge(record),
            "progress": display.live_progress(record), "duration": display.job_duration(record)}


def kind_label(record) -> str:
    return str(type(record)._meta.verbose_name)


def what(record) -> str:
    """What the job is about, in a few words."""
    kind = display.job_kind(record)
    if kind == "backup":
        return _("%(target)s (%(server)s), %(type)s") % {
            "target": record.target.name,
            "server": display.address(record.server_address) or display.server_of(record.target),
            "type": record.get_backup_type_display()}
    if kind == "restore":
        return _("backup #%(backup)s into %(into)s") % {
            "backup": record.backup_id, "into": display.address(record.server_address) or record.target_database}
    if kind == "verification":
        text = _("backup #%(backup)s with a restore drill") if record.drill else _("backup #%(backup)s")
        return text % {"backup": record.backup_id}
    if kind == "server-run":
        return _("every database of %(target)s (%(server)s), %(type)s") % {
            "target": record.target.name, "server": record.server_address, "type": record.get_backup_type_display()}
    if record.policy_id:
        return _("policy %(name)s") % {"name": record.policy.name}
    if record.target_id:
        return _("%(target)s, %(type)s backups") % {"target": record.target.name, "type": record.backup_type}
    return ""


def jobs_view(request, site):
    if not visible_models(request):
        raise PermissionDenied
    context = {**site.each_context(request), "title": _("Jobs"), "kinds": [
        (k, str(model_of(k)._meta.verbose_name_plural)) for k in display.JOB_KINDS
        if model_of(k) in visible_models(request)], **_rows(request)}
    return TemplateResponse(request, "admin/backups_app/jobs.html", context)


def jobs_rows_view(request, site):
    if not visible_models(request):
        raise PermissionDenied
    return TemplateResponse(request, "admin/backups_app/jobs_rows.html", _rows(request))


def _job(request, kind: str, pk: int):
    model = model_of(kind)
    if model not in visible_models(request):
        raise PermissionDenied
    return get_object_or_404(model, pk=pk)


def job_view(request, site, kind: str, pk: int):
    record = _job(request, kind, pk)
    context = {**site.each_context(request), **job_context(record),
               "title": _("%(kind)s #%(id)s") % {"kind": kind_label(record).capitalize(), "id": record.pk}}
    return TemplateResponse(request, "admin/backups_app/job.html", context)


def job_progress_view(request, site, kind: str, pk: int):
    return TemplateResponse(request, "admin/backups_app/job_progress.html", job_context(_job(request, kind, pk)))


def job_context(record) -> dict:
    active = record.status in display.ACTIVE
    return {"job": job_row(record), "record": record, "active": active, "polling": JOB_POLL_SECONDS,
            "record_url": record_url(record), "facts": facts(record), "error": display.error_words(record.error)}


def record_url(record) -> str:
    from django.urls import reverse

    model = type(record)._meta.model_name
    if display.job_kind(record) == "prune":
        return ""
    return reverse(f"admin:backups_app_{model}_change", args=[record.pk])


def facts(record) -> list[tuple[str, str]]:
    rows = [(_("what"), what(record)), (_("started by"), display.started_by(record)),
            (_("queued at"), display.when(record.created_at)), (_("started"), display.when(record.started_at)),
            (_("finished"), display.when(record.finished_at)), (_("duration"), display.job_duration(record))]
    if display.job_kind(record) == "prune":
        # Its counts in the reader's words; its detail line is the task's English summary of the same.
        if record.pruned_count is not None:
            rows += [(_("backups deleted"), str(record.pruned_count)),
                     (_("left to other hosts"), str(record.left_count or 0))]
    elif display.job_kind(record) == "server-run":
        rows += [(_("databases"), ", ".join(record.databases)), (_("failed databases"), ", ".join(
            record.failed_databases)), (_("detail"), record.detail)]
    elif getattr(record, "detail", ""):
        rows.append((_("detail"), record.detail))
    return [(label, value) for label, value in rows if value]
