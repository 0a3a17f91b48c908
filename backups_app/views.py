import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


# Who may read each target's name and facts on /healthz; anyone gets the status and the counts.
HEALTH_DETAIL_PERMISSIONS = ("backups_app.view_databasetarget", "backups_app.view_backuprecord")


def health_detail_allowed(request) -> bool:
    """Logged-in staff who may see targets and backups, or whoever may read /metrics (token or address)."""
    from backups_app.services.monitoring import access

    user = request.user
    staff = user.is_authenticated and user.is_active and user.is_staff and user.has_perms(HEALTH_DETAIL_PERMISSIONS)
    return staff or access.metrics_allowed(request)


@never_cache
@require_GET
def healthz(request):
    """Health of the backups, for load balancers and monitors: 200 when every target is healthy, else 503.

    Without login or token: the status and counts only, no target names or times.
    """
    from django.utils import translation

    from backups_app.services.monitoring import health

    try:
        # For machines: one language whatever the console or the asking client speaks (docs/schedules.md).
        with translation.override("en"):
            report = health.health_report(detail=health_detail_allowed(request))
    except DatabaseError:
        log.exception("healthz: the console database cannot be read")
        return JsonResponse({"ok": False, "error": "the console database cannot be read"}, status=503)
    return JsonResponse(report, status=200 if report["ok"] else 503)


@never_cache
@require_GET
def metrics(request):
    """Per-target backup facts in Prometheus' text format, for a bearer token or an allowed address."""
    from backups_app.services.monitoring import access
    from backups_app.services.monitoring import metrics as exporter

    if not access.metrics_allowed(request):
        return refused(request)
    return HttpResponse(exporter.exposition(), content_type=exporter.CONTENT_TYPE)


def refused(request):
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_IPS:
        return HttpResponse("metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS\n", status=403,
                            content_type="text/plain")
    if settings.METRICS_TOKEN:
        response = HttpResponse("a valid bearer token is needed\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse("this address may not read the metrics\n", status=403, content_type="text/plain")
