"""POST and GET /api/deployments through the API's tokens, scopes and problem+json errors."""

import json

import pytest

from deployments.models import Deployment
from opsportal.audit.models import AuditEvent
from tests.api.conftest import ApiClient, token_for  # noqa: F401 (fixtures)

SHA = "7e3c1a9f5b2d8e4c6a0f1b3d5e7a9c2b4d6f8a0c"
URL = "/api/deployments"


def post(client, **body):
    body = {"environment": "makalah-ai/prod", "sha": SHA, **body}
    return client.post(URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def ci(token_for, prod):  # noqa: F811
    client, user, token, _raw = token_for("operator", ["deployments:write", "read"], name="gha")
    return client, user, token


def test_post_records_then_updates_by_external_id(ci, prod):
    client, user, token = ci
    response = post(
        client,
        status="in_progress",
        ref="main",
        external_id="gha-9001-1",
        provider="github_actions",
        url="https://makalah.ai",
        commit_time="2026-11-30T08:00:00Z",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["environment"] == "makalah-ai/prod" and body["status"] == "in_progress"
    assert body["triggered_by"] == user.username and body["via_token"] == token.label
    dep = Deployment.objects.get()
    assert dep.via_token_id == token.pk and dep.triggered_by == user
    (event,) = AuditEvent.objects.filter(action="deployment.recorded")
    assert event.actor == user and event.environment_id == prod.pk
    assert event.changes["via"] == token.label

    response = post(client, status="success", external_id="gha-9001-1", provider="github_actions")
    assert response.status_code == 200, response.content
    assert response.json()["id"] == dep.pk and response.json()["status"] == "success"
    assert response.json()["lead_time_seconds"] > 0
    assert Deployment.objects.count() == 1
    (update,) = AuditEvent.objects.filter(action="deployment.updated")
    assert update.changes["status"] == ["in_progress", "success"] and update.actor == user


def test_validation_errors_are_problems_with_fields(ci):
    client, _user, _token = ci
    response = post(client, sha="zzz")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert {e["field"] for e in response.json()["errors"]} == {"sha"}
    response = post(client, environment="makalah-ai/nowhere")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "environment"
    response = client.post(URL, data=json.dumps({"sha": SHA}), content_type="application/json")
    assert response.status_code == 422
    assert not Deployment.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="deployment.").exists()


def test_a_refused_transition_is_a_conflict(ci):
    client, _user, _token = ci
    post(client, status="failure", external_id="r1")
    response = post(client, status="success", external_id="r1")
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "status"
    assert Deployment.objects.get().status == "failure"


def test_the_owner_needs_the_permission_too(token_for, prod):  # noqa: F811
    client, _user, _token, _raw = token_for("viewer", ["deployments:write"])
    response = post(client)
    assert response.status_code == 403
    assert not Deployment.objects.exists()
    reader, _u, _t, _r = token_for("operator", ["read"])
    response = post(reader)
    assert response.status_code == 403
    assert response.json()["type"].endswith("insufficient-scope")


def test_list_by_environment_with_a_cursor(ci, prod, preview):
    client, _user, _token = ci
    for i in range(5):
        post(client, external_id=f"p{i}")
    post(client, environment="makalah-ai/preview", external_id="other")
    first = client.get(f"{URL}?environment=makalah-ai/prod&limit=3").json()
    assert [d["external_id"] for d in first["items"]] == ["p4", "p3", "p2"]
    second = client.get(f"{URL}?environment=makalah-ai/prod&limit=3&cursor={first['next']}").json()
    assert [d["external_id"] for d in second["items"]] == ["p1", "p0"] and second["next"] is None
    everything = client.get(URL).json()
    assert len(everything["items"]) == 6
    assert client.get(f"{URL}?environment=nope").status_code == 422


def test_no_credential_comes_back(ci):
    client, _user, _token = ci
    secret = "sk_live_" + "Ap1" * 10
    response = post(client, url=f"https://hooks.example/deploy?token={secret}")
    assert response.status_code == 201
    assert secret not in response.content.decode()
    assert secret not in client.get(URL).content.decode()
