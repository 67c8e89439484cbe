"""Every page needs a login; each role can do exactly what it should."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from opsportal.audit.models import AuditEvent

PUBLIC_URL_NAMES = {
    "login",
    "admin:login",
    "healthz",
    # signed provider webhooks: the signature is the authorisation (tests/deployments)
    "deployments:webhook_vercel",
    "deployments:webhook_render",
    # a Sejoli shop's order posts: the token in the path is the authorisation (tests/sejolisync)
    "sejoli_hook",
    # a campaign e-mail's signed unsubscribe link (tests/mailings/test_campaigns.py)
    "mailings:unsubscribe",
    # fragments htmx fetches into a page: empty for anonymous (tests/notifications/test_queue.py)
    "notifications:waiting_count",
    "notifications:waiting_panel",
}
CONVERTER_SAMPLES = {
    "int": "1",
    "slug": "sample",
    "str": "sample",
    "path": "sample",
    "uuid": ("00000000-0000-0000-0000-000000000001"),
}


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield namespace + (entry.name or ""), prefix + str(entry.pattern), entry


def _concrete(route: str, pattern) -> str:
    """Turn a route into a real path, filling converters with sample values."""
    converters = getattr(pattern.pattern, "converters", {})
    path = route
    for name, converter in converters.items():
        kind = type(converter).__name__.replace("Converter", "").lower()
        sample = CONVERTER_SAMPLES.get(kind, "sample")
        path = path.replace(f"<{kind}:{name}>", sample).replace(f"<{name}>", sample)
    return "/" + path.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")


# The JSON API's operations authenticate with a bearer token, not the login session: anonymous
# requests get 401 problem+json, checked for every operation by tests/api/test_scopes.py. The
# API's docs and schema (apiv1:openapi-view, openapi-json, api-root) need a login like any page.
API_NAMESPACE = "apiv1:"
API_SESSION_PAGES = {"apiv1:openapi-view", "apiv1:openapi-json", "apiv1:api-root"}


def all_routes():
    seen = set()
    for name, route, pattern in _walk(get_resolver().url_patterns):
        if name in PUBLIC_URL_NAMES or "(?P<" in route:
            continue
        if name.startswith(API_NAMESPACE) and name not in API_SESSION_PAGES:
            continue
        path = _concrete(route, pattern)
        if path in seen:
            continue
        seen.add(path)
        yield pytest.param(path, id=name or path)


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(all_routes()))
def test_every_url_requires_login(client, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, f"{path} answered {response.status_code} anonymously"
        assert response["Location"].startswith(("/accounts/login/", "/admin/login/")), path


def test_the_url_walk_finds_the_pages():
    paths = {p.values[0] for p in all_routes()}
    assert {"/", "/audit/", "/audit/export.csv", "/admin/", "/api/docs"} <= paths
    assert not [p for p in paths if p.startswith("/api/projects")]  # tests/api covers those


# role -> expected status for each (url name, kwargs)
MATRIX = [
    # (url, viewer, operator, approver, admin, no role)
    ("dashboard", 200, 200, 200, 200, 200),
    ("audit:event_list", 200, 200, 200, 200, 403),
    ("audit:export_csv", 200, 200, 200, 200, 403),
    ("audit:export_json", 200, 200, 200, 200, 403),
    ("admin:index", 302, 302, 302, 200, 302),
    ("admin:auth_user_changelist", 302, 302, 302, 200, 302),
]
ROLES = ["viewer", "operator", "approver", "admin", None]


@pytest.mark.django_db
@pytest.mark.parametrize(("url_name", "expected"), [(row[0], row[1:]) for row in MATRIX])
def test_role_matrix_for_core_pages(client_for, user_factory, client, url_name, expected):
    url = reverse(url_name)
    for role, want in zip(ROLES, expected, strict=True):
        if role is None:
            client.force_login(user_factory(None))
            c = client
        else:
            c, _ = client_for(role)
        status = c.get(url).status_code
        assert status == want, f"{role or 'no role'} on {url_name}: {status}, expected {want}"


@pytest.mark.django_db
def test_roles_hold_exactly_their_permissions(user_factory):
    viewer, operator, approver, admin = (
        user_factory(r) for r in ("viewer", "operator", "approver", "admin")
    )
    assert viewer.has_perm("audit.view_auditevent")
    assert not viewer.has_perm("environments.change_environment")
    assert operator.has_perm("environments.change_environment")
    assert not operator.has_perm("auth.add_user")
    assert approver.has_perm("environments.change_environment")
    assert not approver.has_perm("auth.add_user")
    assert admin.has_perm("auth.add_user")
    assert not viewer.has_perm("audit.change_auditevent")


@pytest.mark.django_db
def test_session_ends_after_inactivity(client_for, settings):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client, _ = client_for("viewer")
    assert client.get("/").status_code == 200
    assert settings.SESSION_COOKIE_AGE <= 60 * 60
    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert AuditEvent.objects.filter(action="auth.login.succeeded").count() == 1


@pytest.mark.django_db
def test_activity_pushes_the_session_expiry_forward_at_most_once_a_minute(
    client_for, settings, monkeypatch
):
    from django.contrib.sessions.models import Session

    from opsportal.accounts import middleware

    clock = [1_000_000.0]
    monkeypatch.setattr(middleware.time, "time", lambda: clock[0])
    client, _ = client_for("viewer")
    assert client.get("/").status_code == 200
    first = Session.objects.get().expire_date

    clock[0] += 30  # within the refresh interval: no session write
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    assert not [q for q in queries if "UPDATE" in q["sql"] and "django_session" in q["sql"]]
    assert Session.objects.get().expire_date == first

    clock[0] += settings.SESSION_REFRESH_SECONDS  # a minute later: the expiry moves
    assert client.get("/").status_code == 200
    assert Session.objects.get().expire_date > first


@pytest.mark.django_db
def test_admin_user_edits_are_audited(client_for, user_factory):
    from django.contrib.auth.models import Group

    client, admin_user = client_for("admin")
    target = user_factory("viewer", username="ulla")
    operator_group = Group.objects.get(name="operator")
    response = client.post(
        f"/admin/auth/user/{target.pk}/change/",
        {
            "username": "ulla",
            "email": "ulla@example.org",
            "is_active": "on",
            "groups": [operator_group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert list(target.groups.values_list("name", flat=True)) == ["operator"]
    updated = AuditEvent.objects.get(action="auth.user.updated", target_id=str(target.pk))
    assert updated.actor == admin_user and updated.changes["email"] == "ulla@example.org"
    roles = AuditEvent.objects.get(action="auth.user.roles_changed", target_id=str(target.pk))
    assert roles.changes == {"roles": ["operator"]}

    response = client.post(f"/admin/auth/user/{target.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    deleted = AuditEvent.objects.get(action="auth.user.deleted")
    assert deleted.target_repr == "ulla"
