"""The API itself (django-ninja): its routes under /api/v1/, its OpenAPI document, and every error as one JSON line.

Every answer that is not a success is `{"error": "..."}` (a refused input
also lists each field in `detail`); nothing becomes an HTML page or a
traceback. An unexpected failure is logged with its traceback and answered
500 with a line that gives nothing away.
"""

import logging

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from backups_app.api import endpoints
from backups_app.api.auth import Denied, PerToken, TooManyFailures

log = logging.getLogger(__name__)

api = NinjaAPI(
    title="Backup Console API", version="1", urls_namespace="api", docs_url=None, throttle=[PerToken()],
    description="For pipelines: list targets and backups, start a backup and wait for it, verify, restore, pin, "
                "and the health of every target. Authenticate with `Authorization: Bearer <token>` (an API token "
                "from the admin); a token may do what its user may. See docs/api.md.",
)
api.add_router("/", endpoints.router)


def answer(request, status: int, message: str, **extra):
    return api.create_response(request, {"error": message, **extra}, status=status)


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    response = answer(request, 401, "a valid API token is needed: send Authorization: Bearer <token> (tokens are "
                                    "made in the admin, under API tokens)")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(Denied)
def denied(request, exc):
    return answer(request, 403, str(exc))


@api.exception_handler(TooManyFailures)
def too_many_failures(request, exc):
    response = answer(request, 429, "too many invalid tokens from this address: try again later")
    response["Retry-After"] = str(int(exc.wait))
    return response


@api.exception_handler(Throttled)
def throttled(request, exc):
    wait = f": try again in {int(exc.wait) + 1} s" if getattr(exc, "wait", None) else ""
    return answer(request, 429, f"too many calls with this token{wait}")


@api.exception_handler(ValidationError)
def invalid(request, exc):
    fields = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors]
    words = "; ".join(f"{'.'.join(f['loc'][1:] or f['loc'])}: {f['msg']}" for f in fields)
    return answer(request, 422, f"bad input: {words}", detail=fields)


@api.exception_handler(endpoints.Problem)
def problem(request, exc):
    return answer(request, exc.status, str(exc), **({"detail": []} if exc.status == 422 else {}))


@api.exception_handler(HttpError)
def http_error(request, exc):
    return answer(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def not_found(request, exc):
    return answer(request, 404, "not found")


@api.exception_handler(Exception)
def failed(request, exc):
    log.exception("API call %s %s failed", request.method, request.path)
    return answer(request, 500, "the console could not answer this call; its log says why")
