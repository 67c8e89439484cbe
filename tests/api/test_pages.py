"""Token pages: My API tokens (create shows the token once, list, revoke) and service tokens
(admins only)."""

import pytest

from opsportal.api.models import ApiToken, ServiceAccount, TokenKind
from opsportal.api.tokens import parse
from opsportal.audit.models import AuditEvent

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_my_tokens_create_once_list_and_revoke(client_for):
    client, user = client_for("operator")
    r = client.get("/accounts/tokens/")
    assert r.status_code == 200 and b"No tokens yet" in r.content
    r = client.post(
        "/accounts/tokens/",
        {"name": "laptop", "scopes": ["read", "env:check"], "expires_days": "30"},
    )
    assert r.status_code == 200
    assert "no-store" in r["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    html = r.content.decode()
    start = html.index(f"opsp_{token.pk}_")
    raw = html[start : start + len(f"opsp_{token.pk}_") + 40]
    assert parse(raw) is not None
    assert ApiClient(raw).get("/api/me").json()["scopes"] == ["read", "env:check"]
    created = AuditEvent.objects.get(action="api.token.created")
    assert created.actor == user and created.target_id == str(token.pk)

    # Shown once: the list shows the token's prefix, never its secret again.
    again = client.get("/accounts/tokens/").content.decode()
    assert parse(raw)[1] not in again and f"opsp_{token.pk}_…" in again and "laptop" in again

    r = client.post(f"/accounts/tokens/{token.pk}/revoke/", {"reason": "done"})
    assert r.status_code == 302
    token.refresh_from_db()
    assert token.status() == "revoked"
    assert AuditEvent.objects.get(action="api.token.revoked").message == "done"
    assert ApiClient(raw).get("/api/me").status_code == 401


def test_form_errors_show_next_to_fields(client_for):
    client, _user = client_for("viewer")
    r = client.post("/accounts/tokens/", {"name": "", "scopes": [], "expires_days": "0"})
    assert r.status_code == 200
    form = r.context["form"]
    assert set(form.errors) == {"name", "scopes", "expires_days"}
    assert not ApiToken.objects.exists()
    assert not AuditEvent.objects.filter(action="api.token.created").exists()


def test_nobody_revokes_another_person_s_token(client_for, token_for):
    _c, _owner, token, _raw = token_for("operator", ["read"])
    other, _u = client_for("operator")
    assert other.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_service_tokens_are_for_admins(client_for):
    operator, _u = client_for("operator")
    assert operator.get("/accounts/tokens/service/").status_code == 403
    assert b"Service tokens" not in operator.get("/accounts/tokens/").content

    admin, admin_user = client_for("admin")
    assert b"Service tokens" in admin.get("/accounts/tokens/").content
    r = admin.post(
        "/accounts/tokens/service/",
        {
            "create_account": "1",
            "account-username": "ci-deploy",
            "account-role": "viewer",
            "account-description": "GitHub Actions",
        },
    )
    assert r.status_code == 302
    account = ServiceAccount.objects.get(user__username="ci-deploy")
    assert AuditEvent.objects.get(action="api.service_account.created").actor == admin_user
    r = admin.post(
        "/accounts/tokens/service/",
        {
            "create_token": "1",
            "token-account": str(account.pk),
            "token-name": "deploy gate",
            "token-scopes": ["env:check"],
            "token-expires_days": "180",
        },
    )
    assert r.status_code == 200
    token = ApiToken.objects.get(user=account.user)
    assert token.kind == TokenKind.SERVICE and token.created_by == admin_user
    assert f"opsp_{token.pk}_" in r.content.decode()
    # The service account cannot sign in: it has no usable password.
    account.user.refresh_from_db()
    assert not account.user.has_usable_password()
