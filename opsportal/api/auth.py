"""Bearer-token authentication with scopes, for ninja operations.

``auth=scoped("deployments:write")`` on an operation (or a router) means: a valid token whose
scopes include ``deployments:write``. No token, or a malformed, unknown, expired or revoked one:
401. A valid token without the scope: 403 (``insufficient_scope``). The request then runs as the
token's owner (``request.user``), so the service's own permission check applies too, and audit
rows written during the request say "<owner> via token <id> (<name>)".
"""

from ninja.security.http import HttpAuthBase

from opsportal.audit.middleware import act_via

from .problems import ScopeRequired
from .scopes import SCOPES, WRITE_SCOPES


class TokenAuth(HttpAuthBase):
    openapi_scheme = "bearer"
    openapi_bearerFormat = "opsp_<id>_<secret>"

    def __init__(self, *scopes: str):
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise ValueError(f"unknown scope(s) {unknown}; known: {list(SCOPES)}")
        self.scopes = tuple(scopes)
        super().__init__()

    def __call__(self, request):
        # ninja's HttpBearer logs a malformed header in DEBUG: it may be a token. Not here.
        value = request.headers.get("Authorization", "")
        scheme, _, raw = value.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            return None
        return self.authenticate(request, raw.strip())

    def authenticate(self, request, raw: str):
        from .services import token_authenticate

        token = token_authenticate(raw)
        if token is None:
            return None
        missing = [s for s in self.scopes if not token.has_scope(s)]
        if missing:
            raise ScopeRequired(missing)
        request.user = token.user
        request.api_token = token
        request.api_via = act_via(token.label)
        written = [s for s in self.scopes if s in WRITE_SCOPES]
        if written:
            from opsportal.audit.services import chain_head

            request.api_write_scope = written[0]
            request.api_audit_seq = chain_head().seq
        return token


def scoped(*scopes: str) -> TokenAuth:
    """The auth of an operation that needs a token holding every one of ``scopes``."""
    return TokenAuth(*scopes)


def required_scopes(operation) -> tuple[str, ...] | None:
    """The scopes an operation needs (None: it takes no token — a signed webhook)."""
    for callback in getattr(operation, "auth_callbacks", None) or ():
        if isinstance(callback, TokenAuth):
            return callback.scopes
    return None
