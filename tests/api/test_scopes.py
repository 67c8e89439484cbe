"""Every API operation enforces its scope: a table of endpoint × scope → allowed / refused.

The operations are read from the API itself (``opsportal.api.main.operations``, the same list
the OpenAPI schema is built from), so an endpoint added by any app is in the table without a new
test. An operation needs exactly the scopes it declares; a token holding any other scope is
refused with 403 ``insufficient-scope``, no token (or a bad one) with 401.
"""

import re

import pytest

from opsportal.api.main import operations
from opsportal.api.scopes import READ, SCOPES, WRITE_SCOPES

from .conftest import ApiClient

pytestmark = pytest.mark.django_db

OPERATIONS = sorted((method, path, scopes) for method, path, _op, scopes in operations())
# GETs that need more than `read` (everything else a GET does is a read).
NOT_READ = {
    ("GET", "/projects/{project_slug}/check"): ("env:check",),
    ("GET", "/environments/{project_slug}/{environment_name}/check"): ("env:check",),
    ("GET", "/me"): (),
}


def _url(path: str) -> str:
    # A path parameter that names nothing: authorisation is decided before any lookup.
    return "/api" + re.sub(r"\{[^}]+\}", "1", path)


def _call(client, method: str, path: str):
    url = _url(path)
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, data="{}", content_type="application/json")


def _refused_for_scope(response) -> bool:
    return response.status_code == 403 and response.json()["type"].endswith("insufficient-scope")


@pytest.fixture
def tokens(token_for, user_factory):
    """One admin-owned token per scope (the owner may do anything: only the scope decides)."""
    admin = user_factory("admin")
    return {
        scope: token_for(user=admin, role="admin", scopes=[scope], name=f"only {scope}")[0]
        for scope in SCOPES
    }


def test_the_table_is_not_empty_and_covers_every_app():
    paths = {p for _m, p, _s in OPERATIONS}
    for needed in ("/projects", "/runs", "/import-jobs", "/audit/events"):
        assert needed in paths
    assert any(m == "POST" for m, _p, _s in OPERATIONS)


@pytest.mark.parametrize(("method", "path", "scopes"), OPERATIONS, ids=lambda v: str(v))
def test_declared_scope(method, path, scopes):
    """Each operation takes a token (or says how else it authenticates) and needs the scope a
    reader would expect: `read` for reads, a write scope for writes."""
    if scopes is None:
        op = next(o for m, p, o, _s in operations() if (m, p) == (method, path))
        assert (op.openapi_extra or {}).get("x-opsportal-auth"), (
            f"{method} {path} takes no token and does not say how it authenticates "
            "(openapi_extra={'x-opsportal-auth': ...})"
        )
        return
    if (method, path) in NOT_READ:
        assert scopes == NOT_READ[(method, path)]
    elif method == "GET":
        assert scopes == (READ,), f"{method} {path} should need `read`, needs {scopes}"
    else:
        assert scopes and set(scopes) <= WRITE_SCOPES | {"env:check"}, (
            f"{method} {path} writes: it must name a write scope, not {scopes}"
        )


@pytest.mark.parametrize(("method", "path", "scopes"), OPERATIONS, ids=lambda v: str(v))
def test_scope_enforced(method, path, scopes, tokens, token_for, user_factory):
    if scopes is None:
        pytest.skip("authenticates without a token (signed webhook)")
    # No token, a malformed one, an unknown one: 401 with a Bearer challenge, as problem+json.
    for client in (
        ApiClient(None),
        ApiClient("not-a-token"),
        ApiClient("opsp_999999_" + "x" * 40),
    ):
        r = _call(client, method, path)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r["Content-Type"] == "application/problem+json"
        assert r["WWW-Authenticate"].startswith("Bearer")

    table = {}
    for scope, client in tokens.items():
        r = _call(client, method, path)
        allowed = set(scopes) <= {scope}
        table[scope] = r.status_code
        if allowed:
            assert r.status_code not in (401, 403), (method, path, scope, r.status_code, r.content)
        else:
            assert _refused_for_scope(r), (method, path, scope, r.status_code, r.content)
            assert r.json()["required_scopes"] == [s for s in scopes if s != scope]

    # Every scope it needs, and nothing else: allowed.
    admin = user_factory("admin")
    client = token_for(user=admin, role="admin", scopes=list(scopes) or [READ])[0]
    r = _call(client, method, path)
    assert r.status_code not in (401, 403), (method, path, r.status_code, r.content)
