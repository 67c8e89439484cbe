"""Request hardening shared by every page.

- ``TrustedProxyMiddleware`` / ``client_ip``: the client's address when the portal runs behind
  ``TRUSTED_PROXY_COUNT`` reverse proxies (each appends the address it received the request from
  to ``X-Forwarded-For``). The one place that reads that header: login lockouts (django-axes,
  through ``AXES_CLIENT_IP_CALLABLE``), the audit trail and the logs all see the same address.
- ``QueryGuardMiddleware``: a query string, path or posted form holding a NUL byte (which
  PostgreSQL refuses in any text) is answered 400 with a message, before a view turns it into a
  database error.
- ``ContentSecurityPolicyMiddleware``: a ``Content-Security-Policy`` header on every response
  (``CONTENT_SECURITY_POLICY``): scripts only from the portal's own static files.
"""

import ipaddress

from django.conf import settings
from django.http import HttpResponse

DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The address the request came from before TrustedProxyMiddleware replaced REMOTE_ADDR.
PEER_KEY = "opsportal.peer_addr"


def bad_request(message: str) -> HttpResponse:
    """A 400 whose body says what was wrong (plain text: nothing of the input is echoed)."""
    return HttpResponse(message + "\n", status=400, content_type="text/plain; charset=utf-8")


def _address(value: str) -> str | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [2001:db8::1]:443
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # 203.0.113.7:51234
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def client_ip(request) -> str | None:
    """The client's address: ``REMOTE_ADDR`` with no trusted proxy; behind N trusted proxies,
    the N-th address from the right of ``X-Forwarded-For`` (the one the outermost trusted proxy
    saw). Entries further left were written by the client and are never believed. A request
    that did not pass through all N proxies (too few entries, or garbage) keeps the peer's
    address, so nobody can choose the address a lockout counts against."""
    peer = request.META.get(PEER_KEY) or request.META.get("REMOTE_ADDR") or None
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if not count:
        return peer
    forwarded = [
        part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if len(forwarded) < count:
        return peer
    return _address(forwarded[-count]) or peer


class TrustedProxyMiddleware:
    """Set ``REMOTE_ADDR`` to :func:`client_ip` (first in ``MIDDLEWARE``), keeping the peer's
    address under ``PEER_KEY``. Does nothing with ``TRUSTED_PROXY_COUNT = 0`` (the default)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if getattr(settings, "TRUSTED_PROXY_COUNT", 0):
            request.META.setdefault(PEER_KEY, request.META.get("REMOTE_ADDR", ""))
            address = client_ip(request)
            if address:
                request.META["REMOTE_ADDR"] = address
        return self.get_response(request)


class QueryGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path_info:  # a path part (a slug, a token) goes into queries too
            return bad_request(
                "The address holds a NUL byte (%00), which no page or API path accepts. "
                "Remove it and try again."
            )
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return bad_request(
                    "The address holds a NUL byte (%00), which no search or filter accepts. "
                    "Remove it and try again."
                )
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        # A form's fields (a reason read straight from request.POST, not through a form field
        # that refuses NUL). Checked once the URL is resolved, and only for views that Django's
        # CSRF check parses the form for anyway: a CSRF-exempt endpoint (a webhook, the API) may
        # read the raw body instead, and a multipart body read here could not be read there.
        if request.method != "POST" or getattr(view_func, "csrf_exempt", False):
            return None
        for key, values in request.POST.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return bad_request(
                    "The form holds a NUL byte, which no field accepts. Remove it and try again."
                )
        return None


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", None) or DEFAULT_CSP
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


def ascii_int(value: str | None, *, maximum: int = 2**63 - 1) -> int | None:
    """``value`` as a non-negative integer written in ASCII digits, else None (``²``, ``١٢``,
    ``-1``, ``1e3`` and numbers past ``maximum`` are not numbers a form or a URL sends)."""
    value = (value or "").strip()
    if not value or len(value) > 19 or not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number <= maximum else None
