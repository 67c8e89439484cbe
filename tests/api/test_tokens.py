"""API tokens: hashed storage, shown once, expiry, revocation, last used, who may manage which,
and the audit events of creation, revocation and write-scope use."""

import hashlib
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsportal.api import services
from opsportal.api.models import ApiToken, ServiceAccount, TokenKind
from opsportal.api.tokens import TOKEN_RE, parse
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import record
from opsportal.credentials import classify, mask_text

from .conftest import ApiClient

pytestmark = pytest.mark.django_db


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


# --- storage -----------------------------------------------------------------------------------
def test_token_is_stored_as_a_sha256_of_its_secret_only(token_for):
    _c, user, token, raw = token_for("operator", ["read"])
    assert TOKEN_RE.match(raw)
    token_id, secret = parse(raw)
    assert token_id == token.pk
    row = ApiToken.objects.filter(pk=token.pk).values().get()
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    # Neither the token string nor its secret is in any column of the row, nor in the audit trail.
    stored = json.dumps(row, default=str)
    assert secret not in stored and raw not in stored
    for event in AuditEvent.objects.all():
        text = json.dumps(
            [event.changes, event.message, event.target_repr, event.actor_label], default=str
        )
        assert secret not in text
    # Two tokens never share a secret.
    _c2, _u2, token2, raw2 = token_for(user=user, role="operator", scopes=["read"])
    assert parse(raw2)[1] != secret and token2.secret_hash != token.secret_hash


def test_a_wrong_secret_for_a_real_id_is_refused(token_for):
    _c, _u, _token, raw = token_for("viewer", ["read"])
    wrong = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert ApiClient(wrong).get("/api/projects").status_code == 401
    assert ApiClient(raw).get("/api/projects").status_code == 200


def test_the_token_format_is_a_credential_for_the_classifier(token_for):
    _c, _u, _t, raw = token_for("viewer", ["read"])
    verdict = classify("CI_SETTING", raw)
    assert verdict.secret and verdict.by_value
    assert verdict.kind == "opsportal_token"
    masked = mask_text(f"pasted {raw} by mistake", lambda _s: "***")
    assert parse(raw)[1] not in masked and "pasted" in masked


# --- expiry, revocation, deactivation ----------------------------------------------------------
def test_expired_token_is_refused(token_for):
    client, _u, token, _raw = token_for("viewer", ["read"], expires_days=1)
    assert client.get("/api/projects").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    r = client.get("/api/projects")
    assert r.status_code == 401
    assert r["Content-Type"] == "application/problem+json"
    assert token.status() == "active"  # the instance is stale; the database decides
    token.refresh_from_db()
    assert token.status() == "expired"


def test_expiry_is_bounded(user_factory):
    user = user_factory("viewer")
    for days in (0, -1, services.MAX_EXPIRES_DAYS + 1):
        with pytest.raises(ValidationError) as exc:
            services.token_create(
                actor=user, user=user, name="x", scopes=["read"], expires_days=days
            )
        assert "expires_days" in exc.value.message_dict
    token, _raw = services.token_create(actor=user, user=user, name="x", scopes=["read"])
    assert token.expires_at - token.created_at == timedelta(days=services.DEFAULT_EXPIRES_DAYS)


def test_revoked_token_is_refused_and_the_revocation_audited(token_for):
    client, user, token, _raw = token_for("operator", ["read"])
    assert client.get("/api/projects").status_code == 200
    services.token_revoke(actor=user, token=token, reason="laptop lost")
    assert client.get("/api/projects").status_code == 401
    token.refresh_from_db()
    assert token.status() == "revoked" and token.revoked_by == user
    (event,) = _events("api.token.revoked")
    assert event.actor == user
    assert event.target_id == str(token.pk)
    assert event.message == "laptop lost"
    assert event.changes["owner"] == user.username
    with pytest.raises(ValidationError):
        services.token_revoke(actor=user, token=token)
    assert len(_events("api.token.revoked")) == 1


def test_a_deactivated_owner_s_token_stops_working(token_for):
    client, user, _token, _raw = token_for("operator", ["read"])
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get("/api/projects").status_code == 401


# --- last used ---------------------------------------------------------------------------------
def test_last_used_is_written_at_most_once_a_minute(token_for):
    client, _u, token, _raw = token_for("viewer", ["read"])
    assert token.last_used_at is None
    client.get("/api/me")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=5)
    # Within the minute: no UPDATE of the token row at all.
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/me")
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and "api_apitoken" in q["sql"]]
    token.refresh_from_db()
    assert token.last_used_at == first
    # A minute later it moves.
    earlier = first - timedelta(seconds=61)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=earlier)
    client.get("/api/me")
    token.refresh_from_db()
    assert token.last_used_at > earlier + timedelta(seconds=60)


# --- creation: audit and who may -------------------------------------------------------------
def test_creation_is_audited_without_the_token(user_factory):
    user = user_factory("operator", username="olga")
    token, raw = services.token_create(
        actor=user, user=user, name="laptop", scopes=["env:import", "read"], expires_days=30
    )
    (event,) = _events("api.token.created")
    assert event.actor == user and event.actor_label == "olga"
    assert event.target_type == "api.apitoken" and event.target_id == str(token.pk)
    assert event.changes["scopes"] == ["read", "env:import"]
    assert event.changes["kind"] == "personal" and event.changes["owner"] == "olga"
    assert parse(raw)[1] not in json.dumps(event.changes)


def test_unknown_or_no_scope_is_refused(user_factory):
    user = user_factory("operator")
    with pytest.raises(ValidationError) as exc:
        services.token_create(actor=user, user=user, name="x", scopes=["admin"])
    assert "scopes" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.token_create(actor=user, user=user, name="x", scopes=[])
    assert not ApiToken.objects.exists() and not _events("api.token.created")


def test_only_admins_manage_service_accounts_and_others_tokens(user_factory):
    admin, operator, other = user_factory("admin"), user_factory("operator"), user_factory("viewer")
    with pytest.raises(PermissionDenied):
        services.service_account_create(actor=operator, username="ci", role="operator")
    with pytest.raises(PermissionDenied):
        services.token_create(actor=operator, user=other, name="x", scopes=["read"])
    account = services.service_account_create(
        actor=admin, username="ci-deploy", role="operator", description="GitHub Actions"
    )
    assert not account.user.has_usable_password()
    assert list(account.user.groups.values_list("name", flat=True)) == ["operator"]
    (created,) = _events("api.service_account.created")
    assert created.actor == admin and created.changes["role"] == "operator"
    # Not even the service account itself (it cannot sign in anyway) nor an operator.
    with pytest.raises(PermissionDenied):
        services.token_create(actor=operator, user=account.user, name="x", scopes=["read"])
    token, _raw = services.token_create(
        actor=admin, user=account.user, name="deploy", scopes=["env:check"]
    )
    assert token.kind == TokenKind.SERVICE and token.created_by == admin
    with pytest.raises(PermissionDenied):
        services.token_revoke(actor=operator, token=token)
    services.token_revoke(actor=admin, token=token)
    with pytest.raises(ValidationError):
        services.service_account_create(actor=admin, username="robot", role="admin")


# --- write-scope use ------------------------------------------------------------------------
DOTENV = "SITE_NAME=Demo\nSTRIPE_SECRET_KEY=sk_test_51Qw8ErTy7UiOp3AsDfGh\n"


def test_a_write_through_a_token_names_the_token_in_the_service_s_audit_row(
    token_for, user_factory
):
    from tests.factories import EnvironmentFactory

    env = EnvironmentFactory(name="dev")
    user = user_factory("operator", username="ci-bot")
    client, _u, token, _raw = token_for(user=user, role="operator", scopes=["env:import"])
    before = AuditEvent.objects.count()
    r = client.post(
        f"/api/environments/{env.project.slug}/dev/import",
        data={"text": DOTENV, "dry_run": False, "reason": "from CI"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["applied"] is True
    new = list(AuditEvent.objects.order_by("seq")[before:])
    # The service's own events (one per variable, then the import) and no api.token.used.
    assert [e.action for e in new] == ["configvar.created"] * 2 + ["env.import.applied"]
    for event in new:
        assert event.actor == user
        assert event.actor_label == f"ci-bot via token {token.pk} ({token.name})"
        assert event.environment_id == env.pk
    # The "via" ends with the request: a later event outside it names only its actor.
    from django.db import transaction

    with transaction.atomic():
        later = record(actor=user, action="test.after")
    assert later.actor_label == "ci-bot"


def test_a_write_scope_request_that_writes_nothing_is_audited_as_a_use(token_for, user_factory):
    from tests.factories import EnvironmentFactory

    env = EnvironmentFactory(name="dev")
    client, user, token, _raw = token_for("operator", ["env:import"])
    url = f"/api/environments/{env.project.slug}/dev/import"
    r = client.post(url, data={"text": DOTENV}, content_type="application/json")  # dry run
    assert r.status_code == 200 and r.json()["dry_run"] is True
    r = client.post(url, data={"text": ""}, content_type="application/json")  # refused
    assert r.status_code == 422
    uses = _events("api.token.used")
    assert [(e.changes["status"], e.changes["scope"]) for e in uses] == [
        (200, "env:import"),
        (422, "env:import"),
    ]
    for e in uses:
        assert e.actor == user and f"via token {token.pk}" in e.actor_label
        assert e.changes["path"] == url and e.changes["method"] == "POST"
    # A read scope is not audited per request.
    reader = token_for("viewer", ["read"])[0]
    reader.get("/api/projects")
    assert len(_events("api.token.used")) == 2


# --- the command ------------------------------------------------------------------------------
def test_command_create_list_revoke(user_factory):
    user_factory("operator", username="otto")
    out = StringIO()
    call_command(
        "api_token",
        "create",
        "--user",
        "otto",
        "--scope",
        "read",
        "--scope",
        "env:check",
        "--expires-days",
        "7",
        "--json",
        stdout=out,
    )
    data = json.loads(out.getvalue())
    assert set(data) == {"id", "token"}
    token = ApiToken.objects.get(pk=data["id"])
    assert parse(data["token"])[0] == token.pk and token.scopes == ["read", "env:check"]
    assert ApiClient(data["token"]).get("/api/me").json()["owner"] == "otto"
    (event,) = _events("api.token.created")
    assert event.actor is None and event.actor_label == "system"

    out = StringIO()
    call_command("api_token", "list", stdout=out)
    assert "otto" in out.getvalue() and data["token"] not in out.getvalue()
    assert parse(data["token"])[1] not in out.getvalue()

    call_command("api_token", "revoke", str(token.pk), "--reason", "rotated", stdout=StringIO())
    assert ApiClient(data["token"]).get("/api/me").status_code == 401
    assert _events("api.token.revoked")[0].message == "rotated"
    out = StringIO()
    call_command("api_token", "list", stdout=out)
    assert "no tokens" in out.getvalue()
    out = StringIO()
    call_command("api_token", "list", "--all", "--json", stdout=out)
    assert json.loads(out.getvalue())[0]["status"] == "revoked"


def test_command_creates_a_service_account_on_request(roles):
    with pytest.raises(CommandError, match="--service-role"):
        call_command("api_token", "create", "--user", "ci", "--scope", "read", stdout=StringIO())
    out = StringIO()
    call_command(
        "api_token",
        "create",
        "--user",
        "ci",
        "--service-role",
        "viewer",
        "--scope",
        "env:check",
        stdout=out,
        stderr=StringIO(),
    )
    raw = out.getvalue().strip()
    assert TOKEN_RE.match(raw)
    account = ServiceAccount.objects.get(user__username="ci")
    assert ApiToken.objects.get(user=account.user).kind == TokenKind.SERVICE
    with pytest.raises(CommandError, match="scope"):
        call_command("api_token", "create", "--user", "ci", "--scope", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="No token"):
        call_command("api_token", "revoke", "424242", stdout=StringIO())
