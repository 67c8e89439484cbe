"""Change requests that don't collide: overlaps shown, withdraw or supersede, stale on apply.

Every write asserts its audit event; the queue ("waiting for me") drops what went stale.
"""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from environments import services, waiting
from environments.choices import ChangeRequestStatus
from environments.models import ChangeRequest
from opsportal.audit.models import AuditEvent

from .factories import ConfigVarFactory

pytestmark = pytest.mark.django_db


def login(user):
    c = Client()
    c.force_login(user)
    return c


def _request(env, actor, key="FEATURE_FLAG", value="on", reason="launch"):
    result = services.configvar_save(
        actor=actor, environment=env, key=key, value=value, is_secret=False, reason=reason
    )
    assert result.change_request is not None
    return result.change_request


def _events(action, cr):
    return AuditEvent.objects.filter(
        action=action, target_type="environments.changerequest", target_id=str(cr.pk)
    )


def test_overlap_is_found_and_recorded(users, prod):
    first = _request(prod, users["operator"], value="on")
    unrelated = _request(prod, users["operator"], key="OTHER_FLAG")
    second = _request(prod, users["approver"], value="off")
    assert [c.pk for c in services.changerequest_conflicts(second)] == [first.pk]
    assert services.changerequest_conflicts(second)[0].overlap == ["FEATURE_FLAG"]
    assert [c.pk for c in services.changerequest_conflicts(first)] == [second.pk]
    assert services.changerequest_conflicts(unrelated) == []
    created = _events("changerequest.created", second).get()
    assert created.changes["overlaps"] == [first.pk]
    assert "overlaps" not in _events("changerequest.created", first).get().changes


def test_apply_marks_overlapping_requests_stale_in_the_same_transaction(users, prod):
    first = _request(prod, users["operator"], value="on")
    second = _request(prod, users["approver"], value="off")
    apart = _request(prod, users["operator"], key="OTHER_FLAG")
    # both are in the other approver's queue
    queue = {i.url for i in waiting.items(users["approver2"])}
    assert {first.get_absolute_url(), second.get_absolute_url()} <= queue

    services.changerequest_approve(actor=users["approver2"], change_request=first, reason="go")

    second.refresh_from_db()
    apart.refresh_from_db()
    assert second.status == ChangeRequestStatus.STALE
    assert second.replaced_by_id == first.pk
    assert f"#{first.pk} changed FEATURE_FLAG first" in second.decision_reason
    assert apart.status == ChangeRequestStatus.PENDING
    event = _events("changerequest.stale", second).get()
    assert event.actor == users["approver2"]
    assert event.changes["replaced_by"] == first.pk
    assert event.changes["overlap"] == ["FEATURE_FLAG"]
    assert event.environment_id == prod.pk
    # the stale event comes after the apply, in the same chain
    applied = _events("changerequest.applied", first).get()
    assert applied.seq < event.seq
    # it leaves every queue, and can no longer be approved
    queue = {i.url for i in waiting.items(users["approver2"])}
    assert second.get_absolute_url() not in queue
    assert apart.get_absolute_url() in queue
    with pytest.raises(ValidationError, match="already stale"):
        services.changerequest_approve(actor=users["approver2"], change_request=second)


def test_stale_marking_rolls_back_with_a_failed_apply(users, prod):
    first = _request(prod, users["operator"], value="on")
    second = _request(prod, users["approver"], value="off")
    # the variable changed under the first request: its apply fails, nothing goes stale
    ConfigVarFactory(environment=prod, key="FEATURE_FLAG", raw="meanwhile")
    with pytest.raises(ValidationError, match="Prepare it again"):
        services.changerequest_approve(actor=users["approver2"], change_request=first)
    second.refresh_from_db()
    assert second.status == ChangeRequestStatus.PENDING
    assert not AuditEvent.objects.filter(action="changerequest.stale").exists()


def test_direct_change_on_an_unprotected_environment_stales_old_requests(users, prod):
    cr = _request(prod, users["operator"])
    prod.protected = False
    prod.tier = "staging"
    prod.save(update_fields=["protected", "tier"])
    services.configvar_save(
        actor=users["operator"], environment=prod, key="FEATURE_FLAG", value="x", is_secret=False
    )
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.STALE and cr.replaced_by is None
    event = _events("changerequest.stale", cr).get()
    assert event.actor == users["operator"] and event.changes["replaced_by"] is None


def test_supersede_by_the_author_of_both(users, prod):
    old = _request(prod, users["operator"], value="on")
    new = _request(prod, users["operator"], value="off")
    services.changerequest_supersede(
        actor=users["operator"], change_request=new, other=old, reason="off is right"
    )
    old.refresh_from_db()
    new.refresh_from_db()
    assert old.status == ChangeRequestStatus.SUPERSEDED and old.replaced_by_id == new.pk
    assert new.status == ChangeRequestStatus.PENDING
    event = _events("changerequest.superseded", old).get()
    assert event.actor == users["operator"]
    assert event.changes["superseded_by"] == new.pk and event.message == "off is right"
    assert old.get_absolute_url() not in {i.url for i in waiting.items(users["approver"])}


def test_supersede_someone_elses_needs_an_approver(users, prod):
    theirs = _request(prod, users["approver"], value="on")
    mine = _request(prod, users["operator"], value="off")
    with pytest.raises(PermissionDenied):
        services.changerequest_supersede(actor=users["operator"], change_request=mine, other=theirs)
    # nobody supersedes with someone else's request
    with pytest.raises(PermissionDenied):
        services.changerequest_supersede(
            actor=users["approver2"], change_request=mine, other=theirs
        )
    # an approver may retire another's request with their own
    services.changerequest_supersede(actor=users["approver"], change_request=theirs, other=mine)
    mine.refresh_from_db()
    assert mine.status == ChangeRequestStatus.SUPERSEDED
    assert _events("changerequest.superseded", mine).get().actor == users["approver"]
    assert not _events("changerequest.superseded", theirs).exists()


def test_supersede_needs_an_overlap(users, prod):
    a = _request(prod, users["operator"], key="A_FLAG")
    b = _request(prod, users["operator"], key="B_FLAG")
    with pytest.raises(ValidationError, match="changes nothing"):
        services.changerequest_supersede(actor=users["operator"], change_request=b, other=a)
    a.refresh_from_db()
    assert a.status == ChangeRequestStatus.PENDING
    assert not AuditEvent.objects.filter(action="changerequest.superseded").exists()


def test_pages_show_the_conflict_and_supersede(users, prod):
    var = ConfigVarFactory(environment=prod, key="FEATURE_FLAG", raw="off")
    first = _request(prod, users["approver"], value="on")
    op = login(users["operator"])
    # the form already says an open request changes this variable
    edit = reverse("environments:configvar_edit", args=[var.pk])
    page = op.get(edit).content.decode()
    assert 'data-testid="open-requests"' in page and f"#{first.pk}" in page
    r = op.post(
        edit,
        {"secret": "no", "value": "maybe", "reason": "try maybe", "required": ""},
        follow=True,
    )
    second = ChangeRequest.objects.exclude(pk=first.pk).get()
    page = r.content.decode()
    assert f'data-testid="cr-conflict-{first.pk}"' in page
    assert "withdraw this one or supersede" in page
    # the operator may not supersede an approver's request: no button, and the POST is refused
    assert f'data-testid="supersede-{first.pk}"' not in page
    supersede = reverse("environments:changerequest_decide", args=[second.pk, "supersede"])
    assert op.post(supersede, {"other": first.pk}).status_code == 403
    # the approver sees the conflict on their own request and supersedes the operator's
    ap = login(users["approver"])
    page = ap.get(first.get_absolute_url()).content.decode()
    assert f'data-testid="supersede-{second.pk}"' in page
    own = reverse("environments:changerequest_decide", args=[first.pk, "supersede"])
    assert ap.post(own, {"other": second.pk}).status_code == 302
    second.refresh_from_db()
    assert second.status == ChangeRequestStatus.SUPERSEDED
    assert _events("changerequest.superseded", second).get().actor == users["approver"]
    page = op.get(second.get_absolute_url()).content.decode()
    assert 'data-testid="cr-replaced"' in page and f"#{first.pk}" in page


def test_wrong_confirmation_keeps_the_approvers_note(users, prod):
    cr = _request(prod, users["operator"])
    ap = login(users["approver"])
    decide = reverse("environments:changerequest_decide", args=[cr.pk, "approve"])
    r = ap.post(decide, {"reason": "checked with the launch team", "confirm": "dev"})
    assert r.status_code == 400
    page = r.content.decode()
    assert "checked with the launch team" in page
    assert "Type prod to confirm a change to production." in page
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.PENDING
    assert not _events("changerequest.approved", cr).exists()
    assert ap.post(decide, {"reason": "checked", "confirm": "prod"}).status_code == 302
    assert _events("changerequest.approved", cr).get().message == "checked"


def test_stale_request_page_says_so(users, prod):
    first = _request(prod, users["operator"], value="on")
    second = _request(prod, users["approver"], value="off")
    services.changerequest_approve(actor=users["approver2"], change_request=first)
    assert _events("changerequest.stale", second).exists()
    page = login(users["approver"]).get(second.get_absolute_url()).content.decode()
    assert "Stale: prepare it again" in page and 'data-testid="cr-replaced"' in page
    assert 'data-testid="cr-conflicts"' not in page
    listing = login(users["approver"]).get(
        reverse("environments:changerequest_list") + "?status=stale"
    )
    assert second.get_absolute_url() in listing.content.decode()


def test_approving_a_request_gone_stale_meanwhile_says_why(users, prod):
    """The page had the form; by the time it is sent the request is stale: the answer names
    that, though the page no longer shows any form to put the error on."""
    first = _request(prod, users["operator"], value="on")
    second = _request(prod, users["approver"], value="off")
    services.changerequest_approve(actor=users["approver2"], change_request=first)
    decide = reverse("environments:changerequest_decide", args=[second.pk, "approve"])
    r = login(users["approver2"]).post(decide, {"reason": "late", "confirm": "prod"})
    assert r.status_code == 400
    page = r.content.decode()
    assert 'data-testid="decision-error"' in page
    assert f"Change request #{second.pk} is already stale: prepare it again." in page
    assert not _events("changerequest.approved", second).exists()


def test_api_lists_stale_requests(users, prod):
    import json

    from opsportal.api.services import token_create

    first = _request(prod, users["operator"], value="on")
    second = _request(prod, users["approver"], value="off")
    services.changerequest_approve(actor=users["approver2"], change_request=first)
    assert _events("changerequest.stale", second).exists()
    _, raw = token_create(actor=users["viewer"], user=users["viewer"], name="read", scopes=["read"])
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    body = json.loads(client.get("/api/change-requests?status=stale").content)
    assert [c["id"] for c in body["items"]] == [second.pk]
    assert body["items"][0]["status"] == "stale"
