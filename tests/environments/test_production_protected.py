"""A production environment is always protected, and taking protection off any environment is
itself a change to a protected environment: a change request a second person approves."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from environments import services
from environments.choices import ChangeKind, ChangeRequestStatus, Tier
from environments.models import ChangeRequest, Environment
from opsportal.audit.models import AuditEvent
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db


def actions():
    """What the services recorded (logging in is recorded too, and is not what is asserted)."""
    events = AuditEvent.objects.exclude(action__startswith="auth.").order_by("seq")
    return list(events.values_list("action", flat=True))


def test_create_refuses_unprotected_production_on_the_form_field(users, project):
    with pytest.raises(ValidationError) as info:
        services.environment_create(
            actor=users["operator"], project=project, name="live", tier=Tier.PRODUCTION,
            protected=False,
        )  # fmt: skip
    assert list(info.value.message_dict) == ["protected"]
    assert "always protected" in info.value.message_dict["protected"][0]
    assert not Environment.objects.exists() and actions() == []
    # The default and an explicit yes both give a protected production environment.
    prod = services.environment_create(actor=users["operator"], project=project, name="prod")
    assert prod.tier == Tier.PRODUCTION and prod.protected
    assert AuditEvent.objects.get(action="environment.created").changes["protected"] is True


def test_create_page_shows_the_error_next_to_the_field(client, users, project):
    client.force_login(users["operator"])
    url = reverse("environments:environment_create", args=[project.slug])
    data = {"name": "live", "tier": Tier.PRODUCTION, "protected": "no"}
    response = client.post(url, data)
    assert response.status_code == 200
    assert "always protected" in str(response.context["form"].errors["protected"])
    assert not Environment.objects.exists() and actions() == []


def test_update_refuses_making_an_unprotected_environment_production(users, dev):
    with pytest.raises(ValidationError) as info:
        services.environment_update(actor=users["operator"], environment=dev, tier=Tier.PRODUCTION)
    assert "always protected" in info.value.message_dict["protected"][0]
    dev.refresh_from_db()
    assert dev.tier == Tier.DEVELOPMENT and actions() == []
    # Promoting it with protection applies at once (it is not protected yet) and is audited.
    result = services.environment_update(
        actor=users["operator"], environment=dev, tier=Tier.PRODUCTION, protected=True
    )
    assert result.applied
    dev.refresh_from_db()
    assert dev.tier == Tier.PRODUCTION and dev.protected
    event = AuditEvent.objects.get(action="environment.updated")
    assert event.changes["protected"] == [False, True]


def test_update_refuses_unprotecting_production(users, prod):
    with pytest.raises(ValidationError, match="always protected"):
        services.environment_update(actor=users["approver"], environment=prod, protected=False)
    assert Environment.objects.get(pk=prod.pk).protected
    assert not ChangeRequest.objects.exists() and actions() == []
    # Demoting it and taking protection off together is a change request for a second person.
    result = services.environment_update(
        actor=users["approver"], environment=prod, tier=Tier.STAGING, protected=False
    )
    assert result.change_request is not None and not result.applied
    prod.refresh_from_db()
    assert prod.tier == Tier.PRODUCTION and prod.protected
    assert actions() == ["changerequest.created"]


def test_unprotecting_a_protected_environment_is_a_change_request(users, project):
    staging = EnvironmentFactory(project=project, name="staging", tier=Tier.STAGING, protected=True)
    result = services.environment_update(
        actor=users["operator"], environment=staging, protected=False, reason="load test"
    )
    assert not result.applied
    cr = result.change_request
    assert cr.kind == ChangeKind.SETTINGS and cr.status == ChangeRequestStatus.PENDING
    assert Environment.objects.get(pk=staging.pk).protected
    assert actions() == ["changerequest.created"]
    created = AuditEvent.objects.get(action="changerequest.created")
    assert created.actor == users["operator"]
    assert created.changes["settings"]["after"] == {"protected": False}
    services.changerequest_approve(actor=users["approver"], change_request=cr, reason="ok")
    assert not Environment.objects.get(pk=staging.pk).protected
    assert actions()[1:] == [
        "changerequest.approved",
        "environment.updated",
        "changerequest.applied",
    ]
    updated = AuditEvent.objects.get(action="environment.updated")
    assert updated.actor == users["approver"] and updated.changes["protected"] == [True, False]


def test_a_request_that_would_leave_production_unprotected_is_not_applied(users, prod):
    """A request prepared before the rule (or by hand) cannot take production's protection off:
    approving it is refused and nothing of it applies."""
    cr = ChangeRequest.objects.create(
        environment=prod,
        kind=ChangeKind.SETTINGS,
        summary="settings: protected",
        payload={"settings": {"before": {"protected": True}, "after": {"protected": False}}},
        author=users["operator"],
    )
    with pytest.raises(ValidationError, match="always protected"):
        services.changerequest_approve(actor=users["approver"], change_request=cr)
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.PENDING
    assert Environment.objects.get(pk=prod.pk).protected
    assert actions() == []
