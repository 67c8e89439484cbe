"""The API's endpoints against real data: reads, the health gate, env import (dry run, apply,
change request), starting a run, audit events by cursor, problem+json errors, OpenAPI and docs."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from openapi_spec_validator import validate

from environments.choices import ChangeRequestStatus, Tier
from environments.models import ChangeRequest, ConfigVar
from imports.models import ImportJob
from opsportal.audit.models import AuditEvent
from runbooks import services as runbook_services
from runbooks.models import Run
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db

PLAN = """# Release

## Ship

- [ ] Promote the build
- [ ] Smoke test
"""


@pytest.fixture
def project(db):
    return ProjectFactory(name="acme.app", slug="acme-app")


@pytest.fixture
def dev(project):
    env = EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    ConfigVarFactory(environment=env, key="SITE_NAME", raw="Acme dev")
    ConfigVarFactory(environment=env, key="STRIPE_SECRET_KEY", raw="sk_test_51DevKeyAbCdEfGhIjKl")
    return env


@pytest.fixture
def prod(project):
    env = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    ConfigVarFactory(environment=env, key="SITE_NAME", raw="Acme")
    ConfigVarFactory(environment=env, key="STRIPE_SECRET_KEY", raw="sk_live_51ProdKeyAbCdEfGhIjKl")
    assert env.protected
    return env


def _json(r, status=200):
    assert r.status_code == status, (r.status_code, r.content[:500])
    return r.json()


# --- reads -------------------------------------------------------------------------------------
def test_projects_environments_and_inventory(token_for, dev, prod):
    client = token_for("viewer", ["read"])[0]
    page = _json(client.get("/api/projects"))
    assert page["next"] is None
    (p,) = page["items"]
    assert p["slug"] == "acme-app" and p["environments"] == ["dev", "prod"]
    assert _json(client.get("/api/projects/acme-app"))["name"] == "acme.app"
    envs = _json(client.get("/api/projects/acme-app/environments"))
    assert [(e["name"], e["tier"], e["protected"]) for e in envs] == [
        ("dev", "development", False),
        ("prod", "production", True),
    ]
    env = _json(client.get("/api/environments/acme-app/prod"))
    assert env["path"] == "acme-app/prod"
    variables = {
        v["key"]: v for v in _json(client.get("/api/environments/acme-app/prod/variables"))
    }
    public, secret = variables["SITE_NAME"], variables["STRIPE_SECRET_KEY"]
    assert public["value"] == "Acme" and not public["is_secret"]
    assert secret["is_secret"] and secret["value"] is None
    assert secret["kind"] == "stripe_secret_live" and secret["kind_label"].startswith("Stripe")
    stored = ConfigVar.objects.get(environment=prod, key="STRIPE_SECRET_KEY")
    assert secret["fingerprint"] == stored.fingerprint[:16] and len(secret["fingerprint"]) == 16
    assert secret["hint"] == stored.hint
    assert "ProdKey" not in json.dumps(variables)


def test_not_found_is_problem_json(token_for, dev):
    client = token_for("viewer", ["read"])[0]
    for url in (
        "/api/projects/nope",
        "/api/environments/acme-app/nope",
        "/api/environments/acme-app/dev/nope/more",
        "/api/runs/424242",
        "/api/no-such-endpoint",
    ):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r["Content-Type"] == "application/problem+json"
        body = r.json()
        assert body["status"] == 404 and body["type"] == "urn:opsportal:problem:not-found"
        assert body["instance"] == url


def test_the_owner_s_permission_applies_too(token_for, user_factory, dev):
    """A token can never do more than its owner: a user without a role reads nothing."""
    client = token_for(user=user_factory(None), role=None, scopes=["read"])[0]
    r = client.get("/api/projects")
    assert r.status_code == 403
    assert r.json()["type"] == "urn:opsportal:problem:forbidden"


def test_hygiene_and_env_check(token_for, dev, prod):
    reader = token_for("viewer", ["read"])[0]
    hygiene = _json(reader.get("/api/projects/acme-app/hygiene"))
    assert hygiene["passed"] is True and hygiene["errors"] == 0
    checker = token_for("viewer", ["env:check"])[0]
    assert _json(checker.get("/api/projects/acme-app/check")) == hygiene
    ConfigVarFactory(environment=prod, key="CLERK_SECRET_KEY", raw="sk_test_ClerkTestKey0123456789")
    checked = _json(checker.get("/api/projects/acme-app/check"))
    assert checked["passed"] is False and checked["errors"] >= 1


# --- the health gate ---------------------------------------------------------------------------
def test_health_gate_200_when_clean_409_with_errors(token_for, dev, prod):
    client = token_for("viewer", ["env:check"])[0]
    ok = _json(client.get("/api/environments/acme-app/prod/check"))
    assert ok["passed"] is True and ok["errors"] == 0 and ok["target"] == "acme-app/prod"
    assert isinstance(ok["findings"], list)

    # A Stripe test key in production is an error: the gate closes.
    ConfigVarFactory(environment=prod, key="STRIPE_WEBHOOK_KEY", raw="sk_test_51OopsTestKeyAbCdEf")
    r = client.get("/api/environments/acme-app/prod/check")
    assert r.status_code == 409
    assert r["Content-Type"] == "application/problem+json"
    body = r.json()
    assert body["passed"] is False and body["errors"] == 1
    assert body["type"] == "urn:opsportal:problem:environment-unhealthy"
    (finding,) = [f for f in body["findings"] if f["severity"] == "error"]
    assert finding["rule"] == "test_key_in_production" and finding["key"] == "STRIPE_WEBHOOK_KEY"
    assert "OopsTestKey" not in r.content.decode()
    # dev is judged on its own: still clean.
    assert client.get("/api/environments/acme-app/dev/check").status_code == 200


def test_health_gate_warnings_do_not_fail(token_for, prod):
    var = ConfigVarFactory(environment=prod, key="ROTATING_SECRET", raw="Zx81kQpL0vR7tYw2Nm5cB3")
    ConfigVar.objects.filter(pk=var.pk).update(
        rotation_period_days=30, last_rotated_at=timezone.now() - timedelta(days=90)
    )
    client = token_for("viewer", ["env:check"])[0]
    body = _json(client.get("/api/environments/acme-app/prod/check"))
    assert body["passed"] is True and body["warnings"] == 1


# --- env import ------------------------------------------------------------------------------
NEW_ENV = "SITE_NAME=Acme dev 2\nRESEND_API_KEY=re_AbC123_DeFgHiJkLmNoPqRsTuV\n"


def test_import_dry_run_changes_nothing(token_for, dev):
    client, user, _t, _r = token_for("operator", ["env:import"])
    count = ConfigVar.objects.count()
    body = _json(
        client.post(
            "/api/environments/acme-app/dev/import",
            data={"text": NEW_ENV},
            content_type="application/json",
        )
    )
    assert body["dry_run"] is True and body["applied"] is False
    assert [c["key"] for c in body["added"]] == ["RESEND_API_KEY"]
    assert [c["key"] for c in body["changed"]] == ["SITE_NAME"]
    assert "DeFgHiJk" not in json.dumps(body)
    assert ConfigVar.objects.count() == count
    (used,) = AuditEvent.objects.filter(action="api.token.used")
    assert used.actor == user


def test_import_apply_and_change_request_on_protected(token_for, user_factory, dev, prod):
    client, user, token, _r = token_for("operator", ["env:import"])
    body = _json(
        client.post(
            "/api/environments/acme-app/dev/import",
            data={"text": NEW_ENV, "dry_run": False, "reason": "CI sync"},
            content_type="application/json",
        )
    )
    assert body["applied"] is True and body["change_request"] is None
    assert ConfigVar.objects.get(environment=dev, key="SITE_NAME").value == "Acme dev 2"
    applied = AuditEvent.objects.get(action="env.import.applied")
    assert applied.actor == user and f"via token {token.pk}" in applied.actor_label
    assert applied.message == "CI sync"

    r = client.post(
        "/api/environments/acme-app/prod/import",
        data={"text": "SITE_NAME=Acme 2\n", "dry_run": False, "reason": "rename"},
        content_type="application/json",
    )
    body = _json(r, 202)
    assert body["applied"] is False and body["change_request"]
    cr = ChangeRequest.objects.get(pk=body["change_request"])
    assert cr.status == ChangeRequestStatus.PENDING and cr.author == user
    assert ConfigVar.objects.get(environment=prod, key="SITE_NAME").value == "Acme"
    created = AuditEvent.objects.get(action="changerequest.created")
    assert created.actor == user and f"via token {token.pk}" in created.actor_label

    reader = token_for("viewer", ["read"])[0]
    listed = _json(reader.get("/api/change-requests?status=pending"))
    assert [c["id"] for c in listed["items"]] == [cr.pk]
    detail = _json(reader.get(f"/api/change-requests/{cr.pk}"))
    assert detail["environment"] == "acme-app/prod" and detail["author"] == user.username
    assert detail["changes"][0]["key"] == "SITE_NAME"
    assert _json(reader.get("/api/change-requests?environment=acme-app/dev"))["items"] == []


def test_import_refusals_are_422_with_field_details(token_for, user_factory, dev):
    client = token_for("operator", ["env:import"])[0]
    url = "/api/environments/acme-app/dev/import"
    r = client.post(url, data={"format": "auto"}, content_type="application/json")
    assert r.status_code == 422 and r["Content-Type"] == "application/problem+json"
    assert {"field": "text", "in": "body"}.items() <= r.json()["errors"][0].items()
    r = client.post(url, data={"text": "X=1", "format": "yaml"}, content_type="application/json")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "format"
    secret_line = "broken line sk_live_51NeverEchoedBackAbCdEf"
    r = client.post(url, data={"text": secret_line}, content_type="application/json")
    assert r.status_code == 422
    assert "NeverEchoed" not in r.content.decode()
    r = client.post(url, data="{not json", content_type="application/json")
    assert r.status_code in (400, 422) and r["Content-Type"] == "application/problem+json"
    # A viewer may hold the scope, but not the permission to import.
    viewer = token_for("viewer", ["env:import"])[0]
    r = viewer.post(url, data={"text": NEW_ENV}, content_type="application/json")
    assert r.status_code == 403 and r.json()["type"].endswith(":forbidden")


# --- runs ----------------------------------------------------------------------------------------
def test_start_a_run_and_read_it(token_for, user_factory, dev):
    client, user, token, _r = token_for("operator", ["runs:write", "read"])
    version = runbook_services.runbook_import(actor=user, text=PLAN, source_name="release.md")
    r = client.post(
        "/api/runs",
        data={"runbook": version.runbook_id, "environment": "acme-app/dev"},
        content_type="application/json",
    )
    body = _json(r, 201)
    run = Run.objects.get(pk=body["id"])
    assert run.started_by == user and run.version == version
    assert body["environment"] == "acme-app/dev" and body["status"] == "in_progress"
    assert body["steps_total"] == 2 and body["steps_done"] == 0
    assert run.planned_end - run.planned_start == timedelta(hours=1)
    started = AuditEvent.objects.get(action="runbook.run.started")
    assert started.actor == user and f"via token {token.pk}" in started.actor_label
    assert _json(client.get(f"/api/runs/{run.pk}"))["id"] == run.pk
    assert [i["id"] for i in _json(client.get("/api/runs?environment=acme-app/dev"))["items"]] == [
        run.pk
    ]
    runbooks = _json(client.get("/api/runbooks"))["items"]
    assert runbooks[0]["latest_version"] == 1

    # Refusals name the field.
    bad = client.post(
        "/api/runs",
        data={"runbook": version.runbook_id, "environment": "acme-app/nope"},
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "environment"
    start = timezone.now()
    bad = client.post(
        "/api/runs",
        data={
            "runbook": version.runbook_id,
            "environment": "acme-app/dev",
            "planned_start": start.isoformat(),
            "planned_end": (start - timedelta(hours=1)).isoformat(),
        },
        content_type="application/json",
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "planned_end"
    viewer = token_for("viewer", ["runs:write"])[0]
    r = viewer.post(
        "/api/runs",
        data={"runbook": version.runbook_id, "environment": "acme-app/dev"},
        content_type="application/json",
    )
    assert r.status_code == 403


# --- import jobs, audit events ---------------------------------------------------------------
def test_import_jobs(token_for, user_factory):
    user = user_factory("operator")
    job = ImportJob.objects.create(
        kind="users",
        original_name="users.csv",
        sha256="a" * 64,
        file="imports/u.csv",
        created_by=user,
        total_rows=10,
        processed_rows=5,
    )
    client = token_for("viewer", ["read"])[0]
    body = _json(client.get("/api/import-jobs"))
    assert [j["id"] for j in body["items"]] == [job.pk]
    detail = _json(client.get(f"/api/import-jobs/{job.pk}"))
    assert detail["percent"] == 50 and detail["created_by"] == user.username
    assert client.get("/api/import-jobs?status=bogus").status_code == 422


def test_audit_events_filtered_and_paginated_by_cursor(token_for, user_factory, dev, prod):
    from django.db import transaction

    from opsportal.audit.services import record

    user = user_factory("operator", username="otto")
    with transaction.atomic():
        for i in range(7):
            record(
                actor=user, action="test.ping", environment=dev if i % 2 else prod, message=f"{i}"
            )
    client = token_for("viewer", ["read"])[0]
    seen, cursor = [], None
    while True:
        url = "/api/audit/events?action=test.&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = _json(client.get(url))
        seen += [e["message"] for e in page["items"]]
        cursor = page["next"]
        if not cursor:
            break
    assert seen == [str(i) for i in reversed(range(7))]
    prod_only = _json(client.get("/api/audit/events?environment=acme-app/prod&action=test."))
    assert [e["message"] for e in prod_only["items"]] == ["6", "4", "2", "0"]
    assert all(e["environment"] == "acme-app/prod" for e in prod_only["items"])
    by_project = _json(client.get("/api/audit/events?project=acme-app&action=test."))
    assert len(by_project["items"]) == 7
    by_operator = _json(client.get("/api/audit/events?operator=otto"))
    assert {e["actor"] for e in by_operator["items"]} == {"otto"}
    one = by_operator["items"][0]
    assert _json(client.get(f"/api/audit/events/{one['seq']}"))["hash"] == one["hash"]
    r = client.get("/api/audit/events?operator=nobody")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "operator"
    r = client.get("/api/audit/events?cursor=garbage!")
    assert r.status_code == 400 and r["Content-Type"] == "application/problem+json"


# --- OpenAPI and docs ----------------------------------------------------------------------------
def test_openapi_schema_is_valid_and_names_scopes(client_for):
    client, _user = client_for("viewer")
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    validate(schema)  # openapi-spec-validator: raises on an invalid document
    assert schema["openapi"].startswith("3.")
    op = schema["paths"]["/api/environments/{project_slug}/{environment_name}/check"]["get"]
    assert op["x-required-scopes"] == ["env:check"]
    assert set(op["responses"]) >= {"200", "409", "401", "403"}
    assert schema["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert "x-required-scopes" in operation or operation.get("x-opsportal-auth"), (
                method,
                path,
            )


def test_docs_page_is_served_without_a_cdn(client_for, client):
    assert client.get("/api/docs").status_code == 302  # signed-in users only
    viewer, _u = client_for("viewer")
    r = viewer.get("/api/docs")
    assert r.status_code == 200
    html = r.content.decode()
    assert "swagger-ui-bundle.js" in html and "/static/ninja/" in html
    assert "cdn." not in html and "unpkg" not in html
