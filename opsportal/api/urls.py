"""``/api/``: the ninja operations (token auth, not the login session), the schema and docs
(signed-in users), and a problem+json 404 for any other path under ``/api/``."""

import functools

from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from opsportal.audit.middleware import reset_via

from .main import api
from .problems import problem

_DOCS = {"openapi-json", "openapi-view", "api-root"}


def _after(request, response) -> None:
    """Audit a write-scope request that recorded no event of its own, then drop the token's
    "via" from the request context."""
    scope = getattr(request, "api_write_scope", None)
    try:
        if scope:
            from opsportal.audit.middleware import current_context
            from opsportal.audit.models import AuditEvent

            from .services import token_use_record

            recorded = AuditEvent.objects.filter(
                seq__gt=request.api_audit_seq, request_id=current_context().request_id
            ).exists()
            if not recorded:
                token_use_record(
                    token=request.api_token,
                    scope=scope,
                    method=request.method,
                    path=request.path,
                    status=response.status_code,
                )
    finally:
        via = getattr(request, "api_via", None)
        if via is not None:
            reset_via(via)
            request.api_via = None


def _operation(view):
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        _after(request, response)
        return response

    wrapper.csrf_exempt = True
    wrapper.login_required = False  # LoginRequiredMiddleware: a token authenticates, not a session
    return wrapper


def _patterns():
    patterns, app_name, namespace = api.urls
    for pattern in patterns:
        if pattern.name not in _DOCS:
            pattern.callback = _operation(pattern.callback)
    return patterns, app_name, namespace


@csrf_exempt
def not_found(request, rest=""):
    return problem(request, 404, code="not-found", detail=f"No API endpoint at {request.path}.")


not_found.login_required = False

urlpatterns = [
    path("", _patterns()),
    re_path(r"^(?P<rest>.*)$", not_found),
]
