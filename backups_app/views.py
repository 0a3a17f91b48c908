from django.http import JsonResponse


def healthz(request):
    """Freshness of backups per target, for load balancers and monitors."""
    from backups_app.services import health

    report = health.freshness_report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
