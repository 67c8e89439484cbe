"""Errors as ``application/problem+json`` (RFC 9457), the same shape for every failure.

``{"type", "title", "status", "detail", "instance", "request_id", "errors": [{"field",
"message"}]}``. ``type`` is ``urn:opsportal:problem:<code>``; ``errors`` lists field details for
422 (a request that does not parse, or a service's ``ValidationError``). No value a client sent is
echoed back (it may be a secret): only where it was and what was wrong with it.
"""

import json
import logging
from functools import partial

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.encoding import force_str
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

from opsportal.audit.masking import scrub_text
from opsportal.audit.middleware import current_context

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal error",
}


class ScopeRequired(PermissionDenied):
    """The token is valid but lacks the scope the endpoint needs."""

    def __init__(self, missing: list[str]):
        self.missing = missing
        super().__init__(f"This token lacks the scope {' and '.join(missing)}.")


def problem(
    request: HttpRequest | None,
    status: int,
    *,
    code: str,
    detail: str = "",
    errors: list[dict] | None = None,
    title: str = "",
    headers: dict | None = None,
    **extra,
) -> HttpResponse:
    body = {
        "type": f"urn:opsportal:problem:{code}",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": scrub_text(detail) if detail else "",
        "instance": request.path if request is not None else "",
        "request_id": current_context().request_id,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    response = HttpResponse(json.dumps(body, default=str), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _loc_field(loc) -> tuple[str, str]:
    parts = [str(p) for p in loc]
    where = parts[0] if parts else ""
    rest = parts[1:]
    # ninja wraps a body schema in its parameter name: body.payload.sha -> sha
    if where == "body" and len(rest) > 1:
        rest = rest[1:]
    return where, ".".join(rest)


def django_validation_errors(exc: DjangoValidationError) -> list[dict]:
    out = []
    if hasattr(exc, "error_dict"):
        for field, errs in exc.error_dict.items():
            for err in errs:
                for message in err.messages:
                    out.append({"field": None if field == "__all__" else field, "message": message})
    else:
        out = [{"field": None, "message": force_str(m)} for m in exc.messages]
    return [{**e, "message": scrub_text(e["message"])} for e in out]


def _authentication(request, exc, api):
    return problem(
        request,
        401,
        code="unauthenticated",
        detail="Send a valid, unexpired, unrevoked token in the Authorization header (Bearer).",
        headers={"WWW-Authenticate": 'Bearer realm="opsportal", error="invalid_token"'},
    )


def _permission(request, exc, api):
    if isinstance(exc, ScopeRequired):
        scope = " ".join(exc.missing)
        return problem(
            request,
            403,
            code="insufficient-scope",
            detail=str(exc),
            required_scopes=exc.missing,
            headers={
                "WWW-Authenticate": (
                    f'Bearer realm="opsportal", error="insufficient_scope", scope="{scope}"'
                )
            },
        )
    return problem(request, 403, code="forbidden", detail=force_str(exc) or "Forbidden.")


def _authorization(request, exc, api):
    return problem(request, 403, code="forbidden", detail=str(exc))


def _not_found(request, exc, api):
    detail = force_str(exc) if str(exc) else "No such resource."
    return problem(request, 404, code="not-found", detail=detail)


def _http_error(request, exc: HttpError, api):
    headers = {}
    if isinstance(exc, Throttled) and exc.wait:
        headers["Retry-After"] = str(int(exc.wait))
    code = {400: "bad-request", 409: "conflict", 429: "throttled"}.get(exc.status_code, "error")
    return problem(request, exc.status_code, code=code, detail=str(exc), headers=headers)


def _request_invalid(request, exc: NinjaValidationError, api):
    errors = []
    for err in exc.errors:
        where, field = _loc_field(err.get("loc") or ())
        errors.append({"field": field or None, "in": where, "message": err.get("msg", "")})
    return problem(
        request, 422, code="validation", detail="The request does not validate.", errors=errors
    )


def _service_invalid(request, exc: DjangoValidationError, api):
    return problem(
        request,
        422,
        code="validation",
        detail="The request was refused: see errors.",
        errors=django_validation_errors(exc),
    )


def _unexpected(request, exc, api):
    logger.exception("API error on %s %s", request.method, request.path)
    return problem(request, 500, code="internal", detail="Unexpected error; see the server log.")


def install(api) -> None:
    """Register the handlers on a ``NinjaAPI``, replacing ninja's defaults."""
    for exc_class, handler in (
        (Exception, _unexpected),
        (Http404, _not_found),
        (HttpError, _http_error),
        (AuthenticationError, _authentication),
        (AuthorizationError, _authorization),
        (PermissionDenied, _permission),
        (NinjaValidationError, _request_invalid),
        (DjangoValidationError, _service_invalid),
    ):
        api.add_exception_handler(exc_class, partial(handler, api=api))
