"""deployment_record: validation, idempotency on the external id, the status lifecycle, audit."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from deployments import services
from deployments.choices import TRANSITIONS, DeploymentStatus, Source
from deployments.models import Deployment
from opsportal.audit.models import AuditEvent

SHA = "4f2a9c0d1e3b5a7c9e1f3a5b7c9d1e3f5a7b9c1d"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def record(actor, env, **kwargs):
    kwargs.setdefault("sha", SHA)
    kwargs.setdefault("status", "success")
    return services.deployment_record(actor=actor, environment=env, **kwargs)


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_recording_a_deployment_is_audited(prod, operator):
    result = record(
        operator,
        prod,
        status="in_progress",
        ref="main",
        external_id="gha-101",
        provider="github_actions",
        url="https://makalah.ai",
        commit_time=T0 - timedelta(hours=2),
        at=T0,
    )
    dep = result.deployment
    assert result.created and result.changed
    assert (dep.status, dep.sha, dep.ref, dep.provider) == (
        "in_progress",
        SHA,
        "main",
        "github_actions",
    )
    assert dep.started_at == T0 and dep.finished_at is None
    assert dep.triggered_by == operator and dep.source == Source.API
    (event,) = events("deployment.recorded")
    assert event.actor == operator and event.environment_id == prod.pk
    assert event.tier == "production"
    assert event.target_type == "deployments.deployment" and event.target_id == str(dep.pk)
    assert event.changes["sha"] == SHA and event.changes["status"] == "in_progress"
    assert event.changes["external_id"] == "gha-101"


def test_a_viewer_cannot_record(prod, viewer):
    with pytest.raises(PermissionDenied):
        record(viewer, prod)
    assert not Deployment.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("sha", {"sha": ""}),
        ("sha", {"sha": "not-a-sha"}),
        ("sha", {"sha": "abc12"}),
        ("status", {"status": "deployed"}),
        ("provider", {"provider": "heroku"}),
        ("url", {"url": "javascript:alert(1)"}),
        ("external_id", {"external_id": "has space"}),
        ("commit_time", {"commit_time": datetime(2026, 1, 1, 9, 0)}),
        ("ref", {"ref": "r" * 256}),
    ],
)
def test_bad_input_is_refused_by_field(prod, operator, field, kwargs):
    with pytest.raises(ValidationError) as exc:
        record(operator, prod, **kwargs)
    assert field in exc.value.message_dict
    assert not Deployment.objects.exists() and not AuditEvent.objects.exists()


def test_sha_is_normalised_and_provider_spelled_with_a_dash(prod, operator):
    dep = record(operator, prod, sha=f"  {SHA.upper()} ", provider="GitHub-Actions").deployment
    assert dep.sha == SHA and dep.provider == "github_actions"


def test_same_external_id_updates_instead_of_adding(prod, operator):
    first = record(operator, prod, status="in_progress", external_id="dpl_1", at=T0)
    again = record(
        operator,
        prod,
        status="success",
        external_id="dpl_1",
        url="https://a.example",
        at=T0 + timedelta(minutes=4),
    )
    assert not again.created and again.changed
    assert again.deployment.pk == first.deployment.pk
    dep = Deployment.objects.get()
    assert dep.status == "success" and dep.finished_at == T0 + timedelta(minutes=4)
    assert dep.started_at == T0 and dep.url == "https://a.example"
    (update,) = events("deployment.updated")
    assert update.changes["status"] == ["in_progress", "success"]
    assert update.actor == operator and update.environment_id == prod.pk
    # The same facts once more: nothing written, nothing audited.
    same = record(operator, prod, status="success", external_id="dpl_1", url="https://a.example")
    assert not same.created and not same.changed
    assert len(events("deployment.updated")) == 1


def test_the_same_external_id_in_another_environment_or_provider_is_another_deployment(
    prod, preview, operator
):
    record(operator, prod, external_id="dpl_1", provider="vercel")
    record(operator, preview, external_id="dpl_1", provider="vercel")
    record(operator, prod, external_id="dpl_1", provider="render")
    assert Deployment.objects.count() == 3
    assert len(events("deployment.recorded")) == 3


def test_without_an_external_id_every_post_is_a_new_deployment(prod, operator):
    record(operator, prod)
    record(operator, prod)
    assert Deployment.objects.count() == 2


def test_a_known_deployment_never_changes_commit(prod, operator):
    record(operator, prod, external_id="dpl_1", status="in_progress")
    with pytest.raises(ValidationError) as exc:
        record(operator, prod, external_id="dpl_1", sha="a" * 40)
    assert "sha" in exc.value.message_dict
    assert Deployment.objects.get().status == "in_progress"


STATUSES = DeploymentStatus.values


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("new", STATUSES)
def test_status_transitions(prod, operator, current, new):
    record(operator, prod, external_id="x1", status=current)
    before = AuditEvent.objects.count()
    if new == current or new in TRANSITIONS[current]:
        result = record(operator, prod, external_id="x1", status=new)
        assert result.deployment.status == new
        assert AuditEvent.objects.count() == before + (new != current)
    else:
        with pytest.raises(services.TransitionError):
            record(operator, prod, external_id="x1", status=new)
        assert Deployment.objects.get().status == current
        assert AuditEvent.objects.count() == before


def test_the_lifecycle_table_is_what_the_issue_describes():
    assert TRANSITIONS["queued"] == {"in_progress", "success", "failure", "cancelled"}
    assert TRANSITIONS["in_progress"] == {"success", "failure", "cancelled"}
    assert TRANSITIONS["success"] == {"rolled_back"}
    assert not TRANSITIONS["failure"] and not TRANSITIONS["cancelled"]
    assert not TRANSITIONS["rolled_back"]


def test_a_late_earlier_stage_is_absorbed_when_allowed(prod, operator):
    record(operator, prod, external_id="d", status="success", at=T0)
    late = record(
        operator,
        prod,
        external_id="d",
        status="in_progress",
        at=T0 - timedelta(minutes=5),
        allow_stale=True,
    )
    dep = late.deployment
    assert dep.status == "success" and dep.started_at == T0 - timedelta(minutes=5)
    (update,) = events("deployment.updated")
    assert list(update.changes) == ["started_at"]


def test_times_follow_the_status(prod, operator):
    record(operator, prod, external_id="d", status="queued", at=T0)
    dep = record(
        operator, prod, external_id="d", status="in_progress", at=T0 + timedelta(minutes=1)
    ).deployment
    assert dep.started_at == T0 + timedelta(minutes=1) and dep.finished_at is None
    dep = record(
        operator, prod, external_id="d", status="failure", at=T0 + timedelta(minutes=3)
    ).deployment
    assert dep.finished_at == T0 + timedelta(minutes=3)
    assert dep.duration == timedelta(minutes=2)


def test_lead_time_is_commit_to_successful_end(prod, operator):
    dep = record(
        operator, prod, status="success", at=T0, commit_time=T0 - timedelta(hours=5)
    ).deployment
    assert dep.lead_time == timedelta(hours=5)


def test_token_is_remembered_and_named_in_the_audit_row(prod, operator):
    token = SimpleNamespace(pk=12, label="token 12 (ci-deploy)")
    dep = record(operator, prod, via_token=token).deployment
    assert dep.via_token_id == 12 and dep.via_token_label == "token 12 (ci-deploy)"
    assert dep.triggered_label == "otto via token 12 (ci-deploy)"
    (event,) = events("deployment.recorded")
    assert event.changes["via"] == "token 12 (ci-deploy)"


def test_a_credential_in_the_url_or_ref_is_masked(prod, operator):
    secret = "sk_live_" + "Zq8" * 10
    dep = record(
        operator, prod, url=f"https://deploy.example/?token={secret}", ref=f"main {secret}"
    ).deployment
    dep.refresh_from_db()
    assert secret not in dep.url and secret not in dep.ref
    assert secret not in str(AuditEvent.objects.get().changes)


def test_mark_rolled_back(prod, operator, viewer):
    dep = record(operator, prod).deployment
    with pytest.raises(ValidationError):
        services.deployment_mark_rolled_back(actor=operator, deployment=dep, reason=" ")
    with pytest.raises(PermissionDenied):
        services.deployment_mark_rolled_back(actor=viewer, deployment=dep, reason="bad")
    services.deployment_mark_rolled_back(actor=operator, deployment=dep, reason="error spike")
    dep.refresh_from_db()
    assert dep.status == "rolled_back"
    (event,) = events("deployment.rolled_back")
    assert event.message == "error spike" and event.actor == operator
    with pytest.raises(services.TransitionError):
        services.deployment_mark_rolled_back(actor=operator, deployment=dep, reason="again")
    assert len(events("deployment.rolled_back")) == 1
