"""Request context (ip, user agent, request id) for audit rows and log lines.

The context lives in a ``contextvars.ContextVar`` so it follows the request through service calls
without being passed around, and is empty in commands and tasks (which set their own).
"""

import contextvars
import logging
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    # Set when the request authenticated with an API token: record() labels the actor
    # "alice via token 12 (ci)" (opsportal.api.auth).
    via: str = ""


_context: contextvars.ContextVar[RequestContext] = contextvars.ContextVar(
    "opsportal_request_context",
    default=RequestContext(),  # noqa: B039 (frozen dataclass: immutable)
)


def current_context() -> RequestContext:
    return _context.get()


def act_via(label: str) -> contextvars.Token:
    """Until reset (``reset_via``) or the request ends, audit rows say the actor acted through
    ``label``."""
    return _context.set(replace(_context.get(), via=label))


def reset_via(token: contextvars.Token) -> None:
    _context.reset(token)


@contextmanager
def request_context(**values):
    """Run a block (a command, a task) with its own request id for logs and audit rows."""
    values.setdefault("request_id", uuid.uuid4().hex)
    token = _context.set(RequestContext(**values))
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it,
    # and a proxy deployment sets REMOTE_ADDR through its own WSGI configuration.
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Give each request an id (kept from ``X-Request-ID`` when well-formed) and echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        ctx = RequestContext(
            request_id=request_id,
            ip=client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:300],
        )
        token = _context.set(ctx)
        request.request_id = request_id
        try:
            response = self.get_response(request)
        finally:
            _context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class RequestContextFilter(logging.Filter):
    """Adds ``request_id`` to every log record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _context.get().request_id or "-"
        return True
