"""Access reviews: lines, production activity, revocation at once, self-review refused, report."""

import csv
import hashlib
import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from compliance import report, services
from compliance.models import AccessReview
from environments import services as env_services
from opsportal.audit.models import AuditEvent
from tests.environments.factories import ConfigVarFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admins(user_factory):
    return user_factory("admin", username="alice"), user_factory("admin", username="bob")


def line_of(review, user):
    return review.lines.get(user=user)


def test_start_lists_every_active_user_with_role_login_and_production_work(
    users, admins, prod, dev
):
    alice, _bob = admins
    op = users["operator"]
    var = ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_live_" + "L1v3" * 6)
    # the operator works in production (a change request) and in dev (not counted)
    env_services.configvar_rotate(actor=op, configvar=var, new_value="sk_live_" + "N3w0" * 6)
    ConfigVarFactory(environment=dev, key="A_SECRET", raw="d3vS3cr3tV4lueQwErTy1234")
    env_services.configvar_save(actor=op, environment=dev, key="OTHER", value="1")
    gone = type(op).objects.create(username="gone", is_active=False)
    review = services.access_review_start(actor=alice)
    names = set(review.lines.values_list("username", flat=True))
    assert names == {u.username for u in users.values()} | {"alice", "bob"}
    assert gone.username not in names
    line = line_of(review, op)
    assert line.role == "operator"
    assert line.activity == {"changerequest": 1} and line.production_events == 1
    assert line_of(review, alice).role == "admin"
    assert (review.period_end - review.period_start).days == 90
    event = AuditEvent.objects.get(action="access_review.started")
    assert event.actor == alice and event.changes["users"] == 6
    with pytest.raises(ValidationError, match="already open"):
        services.access_review_start(actor=alice)


def test_revoking_applies_at_once_the_next_request_is_refused(users, admins, client_for):
    alice, _bob = admins
    op_client, op = client_for("operator")
    assert op_client.get("/").status_code == 200
    review = services.access_review_start(actor=alice)
    admin_client = Client()
    admin_client.force_login(alice)
    response = admin_client.post(
        reverse("compliance:line_decide", args=[review.pk, line_of(review, op).pk]),
        {"decision": "revoke", "note": "left the team"},
    )
    assert response.status_code == 302
    op.refresh_from_db()
    assert not op.is_active and not op.groups.exists()
    # the operator's session is refused on its very next request
    refused = op_client.get("/")
    assert refused.status_code == 302 and refused["Location"].startswith("/accounts/login/")
    assert op_client.get(reverse("environments:project_list")).status_code == 302
    decided = AuditEvent.objects.get(action="access_review.line.decided")
    assert decided.actor == alice and decided.changes["decision"] == "revoke"
    revoked = AuditEvent.objects.get(action="auth.user.access_revoked")
    assert revoked.actor == alice and revoked.target_id == str(op.pk)
    assert revoked.changes["before"]["roles"] == ["operator"]
    assert revoked.changes["sessions_ended"] == 1
    assert "left the team" in revoked.message
    line = line_of(review, op)
    assert (line.decision, line.decided_by, line.note) == ("revoke", alice, "left the team")
    with pytest.raises(ValidationError, match="already decided"):
        services.access_review_decide(actor=alice, line=line, decision="keep")


def test_revoke_needs_a_note(users, admins):
    alice, _ = admins
    review = services.access_review_start(actor=alice)
    with pytest.raises(ValidationError):
        services.access_review_decide(
            actor=alice, line=line_of(review, users["viewer"]), decision="revoke"
        )
    assert users["viewer"].is_active
    assert not AuditEvent.objects.filter(action="auth.user.access_revoked").exists()


def test_self_review_is_refused_and_completion_needs_another_admin(users, admins, client_for):
    alice, bob = admins
    review = services.access_review_start(actor=alice)
    for line in review.lines.exclude(user__in=[alice, bob]):
        services.access_review_decide(actor=alice, line=line, decision="keep", note="still needed")
    # alice cannot decide her own line, nor complete while it is undecided
    with pytest.raises(PermissionDenied, match="another admin"):
        services.access_review_decide(actor=alice, line=line_of(review, alice), decision="keep")
    services.access_review_decide(actor=alice, line=line_of(review, bob), decision="keep")
    with pytest.raises(PermissionDenied, match="another admin"):
        services.access_review_complete(actor=alice, review=review)
    assert not AuditEvent.objects.filter(action="access_review.completed").exists()
    # through the page too: refused with the reason, nothing decided
    client = Client()
    client.force_login(alice)
    page = client.post(
        reverse("compliance:line_decide", args=[review.pk, line_of(review, alice).pk]),
        {"decision": "keep"},
        follow=True,
    )
    assert b"decided by another admin" in page.content
    assert line_of(review, alice).decision == "pending"
    # bob decides alice's line; now alice may complete
    services.access_review_decide(actor=bob, line=line_of(review, alice), decision="keep")
    services.access_review_complete(actor=alice, review=review)
    review.refresh_from_db()
    assert review.status == "completed" and review.completed_by == alice
    assert review.report_sha256 == hashlib.sha256(review.report_markdown.encode()).hexdigest()
    assert review.report_signature == services.report_signature(review.report_sha256)
    assert "| alice | admin |" in review.report_markdown
    event = AuditEvent.objects.get(action="access_review.completed")
    assert event.changes == {"report_sha256": review.report_sha256, "kept": 6, "revoked": 0}
    with pytest.raises(ValidationError, match="completed"):
        services.access_review_decide(
            actor=bob, line=line_of(review, users["viewer"]), decision="keep"
        )


def test_a_lone_admin_cannot_complete(user_factory):
    alone, op = user_factory("admin"), user_factory("operator")
    review = services.access_review_start(actor=alone)
    services.access_review_decide(actor=alone, line=line_of(review, op), decision="keep")
    with pytest.raises(PermissionDenied):
        services.access_review_complete(actor=alone, review=review)
    assert AccessReview.objects.get().is_open


def test_signed_report_export(users, admins):
    alice, bob = admins
    review = services.access_review_start(actor=alice)
    for line in review.lines.all():
        decider = bob if line.user_id == alice.pk else alice
        if line.user_id == bob.pk:
            decider = alice
        decision = "revoke" if line.user_id == users["viewer"].pk else "keep"
        services.access_review_decide(
            actor=decider, line=line, decision=decision, note="=cmd|' /C calc'!A0"
        )
    services.access_review_complete(actor=bob, review=review)
    review.refresh_from_db()
    client = Client()
    client.force_login(bob)
    md = client.get(reverse("compliance:review_export", args=[review.pk, "md"])).content.decode()
    assert md.startswith(review.report_markdown)
    assert review.report_sha256 in md and review.report_signature in md
    assert "1 revoked" in md
    response = client.get(reverse("compliance:review_export", args=[review.pk, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == report.REVIEW_HEADER
    assert all(r[6].startswith("'=") for r in rows[1:7])  # formula-safe notes
    assert ["Report sha256", review.report_sha256] in rows


def test_permissions(users, admins, client_for):
    alice, _ = admins
    with pytest.raises(PermissionDenied):
        services.access_review_start(actor=users["approver"])
    review = services.access_review_start(actor=alice)
    with pytest.raises(PermissionDenied):
        services.access_review_decide(
            actor=users["approver"], line=line_of(review, users["viewer"]), decision="keep"
        )
    with pytest.raises(PermissionDenied):
        services.access_review_complete(actor=users["operator"], review=review)
    client, _ = client_for("approver")
    assert client.get(review.get_absolute_url()).status_code == 403
    assert client.post(reverse("compliance:review_start"), {}).status_code == 403
    assert AuditEvent.objects.filter(action__startswith="access_review.").count() == 1


def test_review_page_links_the_filtered_audit_log(users, admins, prod):
    alice, _ = admins
    op = users["operator"]
    var = ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_live_" + "L1v3" * 6)
    env_services.configvar_rotate(actor=op, configvar=var, new_value="sk_live_" + "N3w0" * 6)
    review = services.access_review_start(actor=alice)
    client = Client()
    client.force_login(alice)
    page = client.get(review.get_absolute_url()).content.decode()
    assert f"operator={op.pk}&amp;tier=production" in page
    assert "action=changerequest." in page
    assert 'data-user="alice"' in page


def test_waiting_for_admins_review_due_then_lines_to_decide(users, admins):
    from compliance import waiting

    alice, bob = admins
    assert [i.title for i in waiting.items(alice)] == ["Access review due"]
    assert waiting.items(users["operator"]) == []
    review = services.access_review_start(actor=alice)
    (item,) = waiting.items(alice)
    assert item.url == review.get_absolute_url() and item.count == 5  # not her own line
    for line in review.lines.exclude(user=alice):
        services.access_review_decide(actor=alice, line=line, decision="keep")
    (item,) = waiting.items(bob)
    assert item.count == 1  # alice's line waits for him
    assert waiting.items(alice) == []
    services.access_review_decide(actor=bob, line=line_of(review, alice), decision="keep")
    services.access_review_complete(actor=alice, review=review)
    assert waiting.items(alice) == [] and waiting.items(bob) == []


def test_user_role_revoke_service(users, admins):
    from opsportal.accounts.services import user_role_revoke

    alice, bob = admins
    with pytest.raises(PermissionDenied):
        user_role_revoke(actor=users["approver"], user=users["viewer"], reason="no")
    with pytest.raises(ValidationError, match="your own access"):
        user_role_revoke(actor=alice, user=alice, reason="no")
    assert not AuditEvent.objects.filter(action="auth.user.access_revoked").exists()
    user_role_revoke(actor=alice, user=bob, reason="left")
    bob.refresh_from_db()
    assert (bob.is_active, bob.is_staff, bob.is_superuser) == (False, False, False)
    assert not bob.groups.exists() and not bob.has_perm("auth.change_user")
    event = AuditEvent.objects.get(action="auth.user.access_revoked")
    assert event.changes["before"] == {
        "roles": ["admin"],
        "is_active": True,
        "is_staff": True,
        "is_superuser": True,
    }
