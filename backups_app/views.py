import logging

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

log = logging.getLogger(__name__)


@require_GET
def healthz(request):
    """Freshness of backups per target, for load balancers and monitors: 200 when all are fresh, else 503."""
    from backups_app.services.monitoring import health

    try:
        report = health.freshness_report()
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
