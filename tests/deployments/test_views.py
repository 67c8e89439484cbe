"""The ledger, a deployment's page, the timeline and the environment page's panel."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from deployments import services
from environments import services as env_services
from environments.choices import ChangeKind, ChangeRequestStatus
from environments.models import ChangeRequest
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import record
from runbooks.choices import RunStatus
from runbooks.models import Run, Runbook, RunbookVersion

from .factories import DeploymentFactory

NOW = timezone.now()


def audit(actor, action, env, at_repr):
    with transaction.atomic():
        return record(actor=actor, action=action, target_repr=at_repr, environment=env)


def make_run(env, user, title, started, finished=None):
    runbook = Runbook.objects.create(title=title)
    version = RunbookVersion.objects.create(runbook=runbook, number=1, sha256="0" * 64)
    return Run.objects.create(
        version=version,
        environment=env,
        status=RunStatus.COMPLETED if finished else RunStatus.IN_PROGRESS,
        planned_start=started,
        planned_end=started + timedelta(hours=1),
        started_by=user,
        started_at=started,
        finished_at=finished,
    )


def test_ledger_lists_and_filters(client_for, prod, preview):
    DeploymentFactory(environment=prod, sha="a" * 40, status="success")
    DeploymentFactory(environment=preview, sha="b" * 40, status="failure")
    client, _user = client_for("viewer")
    page = client.get(reverse("deployments:ledger")).content.decode()
    assert "aaaaaaa" in page and "bbbbbbb" in page
    page = client.get(reverse("deployments:ledger") + "?status=failure").content.decode()
    assert "aaaaaaa" not in page and "bbbbbbb" in page
    page = client.get(reverse("deployments:environment_ledger", args=[prod.pk])).content.decode()
    assert "aaaaaaa" in page and "bbbbbbb" not in page
    page = client.get(reverse("deployments:ledger") + "?sha=BBB").content.decode()
    assert "bbbbbbb" in page and "aaaaaaa" not in page


def test_ledger_pages_by_keyset_with_a_constant_number_of_queries(
    client_for, prod, django_assert_max_num_queries
):
    for _ in range(60):
        DeploymentFactory(environment=prod)
    client, _user = client_for("viewer")
    # session, user, permissions, role, keys, rows, the filter's two lists; the session's
    # refresh: the same for 60 rows as for 6 (no query per row)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("deployments:ledger"))
    page = response.context["page"]
    assert len(page.items) == 50 and page.older_query
    older = client.get(reverse("deployments:ledger") + "?" + page.older_query).context["page"]
    assert len(older.items) == 10 and not older.older_query


def test_pages_need_the_view_permission(client_for, prod):
    dep = DeploymentFactory(environment=prod)
    client, _user = client_for(None)
    for url in (
        reverse("deployments:ledger"),
        dep.get_absolute_url(),
        reverse("deployments:timeline", args=[prod.pk]),
    ):
        assert client.get(url).status_code == 403


def test_deployment_page_shows_what_changed_since_the_previous_one(
    client_for, prod, operator, user_factory
):
    approver = user_factory("approver", username="anna")
    previous = DeploymentFactory(
        environment=prod, finished_at=NOW - timedelta(hours=5), sha="1" * 40
    )
    cr = ChangeRequest.objects.create(
        environment=prod,
        kind=ChangeKind.VARIABLES,
        summary="Rotate the Clerk key",
        author=operator,
        status=ChangeRequestStatus.APPLIED,
        decided_by=approver,
        decided_at=NOW - timedelta(hours=2),
    )
    old_cr = ChangeRequest.objects.create(
        environment=prod,
        kind=ChangeKind.VARIABLES,
        summary="An old request",
        author=operator,
        status=ChangeRequestStatus.APPLIED,
        decided_by=approver,
        decided_at=NOW - timedelta(days=3),
    )
    overlapping = make_run(prod, operator, "Migrate members", NOW - timedelta(minutes=30))
    done_before = make_run(
        prod, operator, "Old cleanup", NOW - timedelta(days=2), NOW - timedelta(days=2)
    )
    dep = services.deployment_record(
        actor=operator,
        environment=prod,
        sha="2" * 40,
        status="in_progress",
        external_id="gha-1",
        at=NOW,
    ).deployment
    client, _user = client_for("viewer")
    response = client.get(dep.get_absolute_url())
    assert response.status_code == 200
    ctx = response.context
    assert ctx["previous"] == previous
    assert [c.pk for c in ctx["change_requests"]] == [cr.pk]
    assert old_cr not in ctx["change_requests"]
    assert [r.pk for r in ctx["runs"]] == [overlapping.pk]
    assert done_before not in ctx["runs"]
    page = response.content.decode()
    assert "Rotate the Clerk key" in page and "Migrate members" in page
    assert "deployment.recorded" in page  # its own history


def test_config_changes_in_the_window(client_for, prod, operator):
    DeploymentFactory(environment=prod, finished_at=timezone.now() - timedelta(minutes=10))
    audit(operator, "configvar.created", prod, "makalah.ai / prod / NEW_FLAG")
    audit(operator, "runbook.run.started", prod, "not a configuration change")
    dep = services.deployment_record(
        actor=operator, environment=prod, sha="3" * 40, status="success"
    ).deployment
    client, _user = client_for("viewer")
    events = client.get(dep.get_absolute_url()).context["config_events"]
    assert [e.target_repr for e in events] == ["makalah.ai / prod / NEW_FLAG"]


def test_mark_rolled_back_page(client_for, prod):
    client, operator = client_for("operator")
    dep = services.deployment_record(
        actor=operator, environment=prod, sha="4" * 40, status="success"
    ).deployment
    url = reverse("deployments:deployment_rolled_back", args=[dep.pk])
    response = client.post(url, {"reason": ""})
    assert response.status_code == 200 and response.context["form"].errors
    response = client.post(url, {"reason": "checkout errors after the release"})
    assert response.status_code == 302
    dep.refresh_from_db()
    assert dep.status == "rolled_back"
    event = AuditEvent.objects.get(action="deployment.rolled_back")
    assert event.actor == operator and event.message == "checkout errors after the release"
    viewer_client, _v = client_for("viewer")
    assert viewer_client.post(url, {"reason": "x"}).status_code == 403


@pytest.fixture
def busy_prod(prod, operator):
    """Configuration changes, a change request, deployments and a run, at known times."""
    env_services.configvar_save(
        actor=operator,
        environment=prod,
        key="NEXT_PUBLIC_APP_URL",
        value="https://makalah.ai",
        is_secret=False,
        reason="launch",
    )
    services.deployment_record(
        actor=operator, environment=prod, sha="5" * 40, status="success", external_id="d1"
    )
    make_run(prod, operator, "Release checklist", timezone.now())
    return prod


def test_timeline_merges_every_kind_newest_first(client_for, busy_prod):
    client, _user = client_for("viewer")
    response = client.get(reverse("deployments:timeline", args=[busy_prod.pk]))
    items = response.context["items"]
    kinds = [i.kind for i in items]
    # prod is protected: the variable became a change request (its audit event)
    assert set(kinds) == {"change_request", "deployment", "run"}
    assert [i.at for i in items] == sorted((i.at for i in items), reverse=True)
    only = client.get(
        reverse("deployments:timeline", args=[busy_prod.pk]) + "?kind=deployment"
    ).context["items"]
    assert [i.kind for i in only] == ["deployment"]


def test_timeline_pages_with_its_cursor(client_for, prod):
    start = timezone.now() - timedelta(days=10)
    for i in range(70):
        DeploymentFactory(environment=prod, finished_at=start + timedelta(hours=i))
    client, _user = client_for("viewer")
    url = reverse("deployments:timeline", args=[prod.pk])
    first = client.get(url)
    assert len(first.context["items"]) == 50 and first.context["older_query"]
    second = client.get(url + "?" + first.context["older_query"])
    assert len(second.context["items"]) == 20 and not second.context["older_query"]
    seen = [i.pk for i in first.context["items"]] + [i.pk for i in second.context["items"]]
    assert len(set(seen)) == 70


def test_environment_page_shows_the_timeline_panel(client_for, busy_prod):
    client, _user = client_for("viewer")
    page = client.get(busy_prod.get_absolute_url()).content.decode()
    assert 'data-testid="production-timeline"' in page
    assert "Release checklist" in page and "5555555" in page
    no_role, _u = client_for(None)
    # Without the deployments permission the panel is not there (the page itself is 403 too).
    assert no_role.get(busy_prod.get_absolute_url()).status_code == 403
