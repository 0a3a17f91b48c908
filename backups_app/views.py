import logging

from django.db import DatabaseError
from django.http import JsonResponse
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
