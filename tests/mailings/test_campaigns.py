"""Welcome e-mail campaigns: templates, preview, dry run, sending once, pause/resume/cancel,
rate, at-most-once after a crash, unsubscribe, bounces, permissions — each write audited."""

import itertools
import re

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from imports.models import Member
from mailings import services
from mailings.choices import CampaignStatus, RecipientStatus, SkipReason
from mailings.models import Campaign, Recipient, Unsubscription
from opsportal.audit.models import AuditEvent

from .factories import FakeClock, FlakyBackend, StampBackend, make_campaign, make_job, make_members

pytestmark = pytest.mark.django_db


def events(action: str, campaign=None):
    qs = AuditEvent.objects.filter(action=action)
    if campaign is not None:
        qs = qs.filter(target_type="mailings.campaign", target_id=str(campaign.pk))
    return qs


def fresh(campaign) -> Campaign:
    return Campaign.objects.get(pk=campaign.pk)


def statuses(campaign) -> dict:
    out = {}
    for s in Recipient.objects.filter(campaign=campaign).values_list("status", flat=True):
        out[s] = out.get(s, 0) + 1
    return out


@pytest.fixture
def operator(user_factory):
    return user_factory("operator")


# --- templates ------------------------------------------------------------------------------------
def test_templates_are_validated_on_save_and_nothing_is_stored_when_wrong(operator):
    for body, word in [
        ("Hi {{ password }}", "Unknown field"),
        ("{% load static %}", "Template error"),
        ("{% debug %}", "Template error"),
        ("{% include 'base.html' %}", "Template error"),
        ("{{ name|ljust:1000000000 }}", "Template error"),
        ("{{ name.__class__ }}", "Template error"),
        ("{% if secret_key %}x{% endif %}", "Unknown field"),
    ]:
        with pytest.raises(ValidationError) as exc:
            make_campaign(operator, body_template=body)
        assert word in " ".join(exc.value.message_dict["body_template"]), body
    with pytest.raises(ValidationError) as exc:
        make_campaign(operator, subject_template="{{ name }}\n{{ email }}", rate=-1)
    assert set(exc.value.message_dict) == {"subject_template", "rate"}
    assert not Campaign.objects.exists()
    assert not events("mailing.campaign.created").exists()

    campaign = make_campaign(operator, name="Welcome to the new shop")
    event = events("mailing.campaign.created", campaign).get()
    assert event.actor == operator and event.changes["subject_template"].startswith("Welcome")


def test_update_only_while_draft_and_audited(operator):
    campaign = make_campaign(operator)
    services.campaign_update(actor=operator, campaign=campaign, body_template="Hi {{ name }}")
    event = events("mailing.campaign.updated", campaign).get()
    assert event.changes["body_template"] == [len(campaign.body_template), len("Hi {{ name }}")]
    with pytest.raises(ValidationError):
        services.campaign_update(actor=operator, campaign=campaign, body_template="{{ nope }}")
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    with pytest.raises(ValidationError, match="not editable"):
        services.campaign_update(actor=operator, campaign=campaign, name="x")


# --- audience, preview, dry run ------------------------------------------------------------------
def test_preview_renders_the_first_members_with_their_fields_only(operator):
    job = make_job()
    members = make_members(8, job=job)
    make_members(3, start=100)  # another import's members: not in the audience
    Member.objects.filter(pk=members[0].pk).update(email=None, phone="+628111")
    Unsubscription.objects.create(member=members[1])
    campaign = make_campaign(operator, job=job)
    preview = services.campaign_preview(actor=operator, campaign=campaign, limit=3)
    assert [m.member_id for m in preview] == [m.pk for m in members[2:5]]
    first = preview[0]
    assert first.to == "m2@example.com"
    assert first.subject == "Welcome, Member"
    assert "Welcome aboard, Member Number2 <m2@example.com>." in first.body
    assert re.search(r"Unsubscribe: http://\S+/mailings/unsubscribe/\S+/", first.body)
    assert not mail.outbox
    assert not Recipient.objects.exists()  # a read: nothing written


def test_dry_run_counts_and_sends_nothing(operator):
    job = make_job()
    members = make_members(10, job=job)
    Member.objects.filter(pk=members[0].pk).update(email=None, phone="+628111")
    Unsubscription.objects.create(member=members[1])
    campaign = make_campaign(operator, job=job, rate=4)
    campaign = services.campaign_dry_run(actor=operator, campaign=campaign)
    counts = campaign.dry_run
    assert (counts["audience"], counts["no_email"], counts["unsubscribed"], counts["to_send"]) == (
        10, 1, 1, 8,
    )  # fmt: skip
    assert counts["estimated_seconds"] == 2
    assert not mail.outbox and not Recipient.objects.exists()
    assert campaign.status == CampaignStatus.DRAFT
    assert events("mailing.campaign.dry_run", campaign).get().changes["to_send"] == 8


def test_filters_by_product_and_membership_status(operator):
    from imports.models import Membership, Product

    job = make_job()
    members = make_members(6, job=job)
    gold, silver = Product.objects.create(name="Gold"), Product.objects.create(name="Silver")
    for i, (product, status) in enumerate(
        [(gold, "active"), (gold, "expired"), (silver, "active"), (gold, "active")]
    ):
        Membership.objects.create(ref=f"S{i}", member=members[i], product=product, status=status)
    campaign = make_campaign(
        operator, job=job, product=gold, membership_status="active",
        subject_template="Your {{ product }}",
    )  # fmt: skip
    assert list(services.audience(campaign)) == [members[0], members[3]]
    assert services.campaign_preview(actor=operator, campaign=campaign)[0].subject == "Your Gold"


# --- sending -------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ten_thousand_members_each_get_exactly_one_message(operator):
    job = make_job()
    make_members(10_000, job=job)
    campaign = make_campaign(operator, job=job, rate=0, batch_size=500)
    campaign = services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    assert campaign.total == 10_000 and campaign.status == CampaignStatus.QUEUED
    campaign = services.campaign_send(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.COMPLETED
    assert len(mail.outbox) == 10_000
    recipients = [m.to[0] for m in mail.outbox]
    assert len(set(recipients)) == 10_000
    assert set(recipients) == set(Member.objects.values_list("email", flat=True))
    assert statuses(campaign) == {RecipientStatus.SENT: 10_000}
    assert campaign.sent_count == 10_000 and campaign.percent == 100
    assert all(m.extra_headers["List-Unsubscribe"].startswith("<http") for m in mail.outbox[:5])
    # a duplicate delivery of the task afterwards sends nothing
    services.campaign_send(campaign_id=campaign.pk)
    assert len(mail.outbox) == 10_000
    assert events("mailing.campaign.started", campaign).get().changes["recipients"] == 10_000
    done = events("mailing.campaign.completed", campaign).get()
    assert done.changes["sent"] == 10_000 and done.job_id == job.pk


def test_start_queues_the_sender_on_the_imports_cluster(operator, monkeypatch, settings):
    from django.test import TestCase

    calls = []
    monkeypatch.setattr(
        "django_q.tasks.async_task", lambda *a, **kw: calls.append((a, kw)) or "task-id"
    )
    job = make_job()
    make_members(3, job=job)
    campaign = make_campaign(operator, job=job)
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.campaign_start(actor=operator, campaign=campaign)
    assert calls == [
        (("mailings.tasks.send_campaign", campaign.pk), {"cluster": settings.IMPORTS_CLUSTER})
    ]
    from mailings.tasks import send_campaign

    send_campaign(campaign.pk)
    assert len(mail.outbox) == 3 and fresh(campaign).status == CampaignStatus.COMPLETED


def test_one_refused_address_fails_alone(operator, settings):
    settings.EMAIL_BACKEND = "tests.mailings.factories.FlakyBackend"
    FlakyBackend.refuse = {"m3@example.com"}
    job = make_job()
    make_members(6, job=job)
    campaign = make_campaign(operator, job=job, batch_size=4)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    campaign = services.campaign_send(campaign_id=campaign.pk)
    assert campaign.status == CampaignStatus.COMPLETED
    assert (campaign.sent_count, campaign.failed_count) == (5, 1)
    failed = Recipient.objects.get(status=RecipientStatus.FAILED)
    assert failed.email == "m3@example.com" and "550" in failed.error
    assert len(mail.outbox) == 5


def test_rate_limit_is_honoured_on_a_fake_clock(operator, settings):
    settings.EMAIL_BACKEND = "tests.mailings.factories.StampBackend"
    clock = FakeClock()
    StampBackend.clock, StampBackend.stamps = clock, []
    job = make_job()
    make_members(50, job=job)
    campaign = make_campaign(operator, job=job, rate=10, batch_size=100)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    try:
        campaign = services.campaign_send(campaign_id=campaign.pk, clock=clock)
    finally:
        StampBackend.clock = None
    stamps = StampBackend.stamps
    assert len(stamps) == 50
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.1 - 1e-9  # never two messages within 1/rate seconds
    assert stamps[-1] - stamps[0] == pytest.approx(4.9)
    # batches of about two seconds at 10/s: 20 per claim
    assert Recipient.objects.values("claim").distinct().count() == 3
    assert campaign.messages_per_second == pytest.approx(10, rel=0.05)


def test_pause_then_resume_sends_the_rest_once(operator):
    job = make_job()
    make_members(60, job=job)
    campaign = make_campaign(operator, job=job, rate=100, batch_size=10)

    def pause_after_25(clock):
        if clock.sleeps == 25:
            services.campaign_pause(actor=operator, campaign=campaign, reason="wrong day")

    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    paused = services.campaign_send(campaign_id=campaign.pk, clock=FakeClock(pause_after_25))
    assert paused.status == CampaignStatus.PAUSED
    assert len(mail.outbox) == 30  # the batch in flight finished (batches of 2 s = 10 here)
    assert statuses(campaign) == {RecipientStatus.SENT: 30, RecipientStatus.QUEUED: 30}
    assert events("mailing.campaign.paused", campaign).get().message == "wrong day"
    with pytest.raises(ValidationError):
        services.campaign_pause(actor=operator, campaign=campaign)

    services.campaign_resume(actor=operator, campaign=campaign, enqueue=False)
    done = services.campaign_send(campaign_id=campaign.pk, clock=FakeClock())
    assert done.status == CampaignStatus.COMPLETED
    assert len(mail.outbox) == 60 and len({m.to[0] for m in mail.outbox}) == 60
    assert events("mailing.campaign.resumed", campaign).get().actor == operator


def test_cancel_stops_for_good(operator):
    job = make_job()
    make_members(40, job=job)
    campaign = make_campaign(operator, job=job, rate=100, batch_size=10)

    def cancel_after_5(clock):
        if clock.sleeps == 5:
            services.campaign_cancel(actor=operator, campaign=campaign, reason="typo in body")

    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    cancelled = services.campaign_send(campaign_id=campaign.pk, clock=FakeClock(cancel_after_5))
    assert cancelled.status == CampaignStatus.CANCELLED
    assert len(mail.outbox) == 10
    assert statuses(campaign) == {RecipientStatus.SENT: 10, RecipientStatus.CANCELLED: 30}
    event = events("mailing.campaign.cancelled", campaign).get()
    assert event.changes["not_sent"] == 30 and event.message == "typo in body"
    services.campaign_send(campaign_id=campaign.pk)  # a late delivery of the task
    assert len(mail.outbox) == 10
    with pytest.raises(ValidationError):
        services.campaign_resume(actor=operator, campaign=campaign)


def test_a_claimed_batch_left_by_a_crash_is_marked_unknown_never_resent(operator, settings):
    """At most once: rows a dead sender claimed are not sent again; an operator may re-queue."""
    job = make_job()
    make_members(30, job=job)
    campaign = make_campaign(operator, job=job, batch_size=10)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    # a sender starts, claims a batch (committed), then dies before recording anything
    services._begin(campaign.pk)
    _, _, claimed = services._claim(campaign.pk, 10)
    assert len(claimed) == 10 and statuses(campaign)[RecipientStatus.SENDING] == 10

    with pytest.raises(ValidationError, match="nothing to resume"):
        services.campaign_resume(actor=operator, campaign=campaign)  # it reported just now
    settings.MAILINGS_STALL_SECONDS = 0
    services.campaign_resume(actor=operator, campaign=campaign, enqueue=False)
    assert events("mailing.campaign.resumed", campaign).get().changes["left_sending"] == 10
    done = services.campaign_send(campaign_id=campaign.pk)
    assert done.status == CampaignStatus.COMPLETED
    assert len(mail.outbox) == 20
    assert {m.to[0] for m in mail.outbox}.isdisjoint(r.email for r in claimed)
    assert statuses(campaign) == {RecipientStatus.SENT: 20, RecipientStatus.UNKNOWN: 10}
    assert done.unknown_count == 10
    assert events("mailing.campaign.unknown_marked", campaign).get().changes["unknown"] == 10

    # the operator checked the provider's log: those ten never left
    with pytest.raises(ValidationError):
        services.campaign_requeue_unknown(actor=operator, campaign=campaign, reason="")
    services.campaign_requeue_unknown(
        actor=operator, campaign=campaign, reason="provider log: none delivered"
    )
    assert fresh(campaign).status == CampaignStatus.PAUSED
    services.campaign_resume(actor=operator, campaign=campaign, enqueue=False)
    services.campaign_send(campaign_id=campaign.pk)
    assert len(mail.outbox) == 30 and len({m.to[0] for m in mail.outbox}) == 30
    assert events("mailing.campaign.unknown_requeued", campaign).get().changes["requeued"] == 10


def test_a_failing_sender_marks_the_campaign_failed_and_resume_continues(operator, monkeypatch):
    job = make_job()
    make_members(5, job=job)
    campaign = make_campaign(operator, job=job)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    monkeypatch.setattr(services, "_record_batch", lambda *a: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        services.campaign_send(campaign_id=campaign.pk)
    failed = fresh(campaign)
    assert failed.status == CampaignStatus.FAILED and "ZeroDivisionError" in failed.error
    assert events("mailing.campaign.failed", campaign).exists()
    monkeypatch.undo()
    services.campaign_resume(actor=operator, campaign=campaign, enqueue=False)
    done = services.campaign_send(campaign_id=campaign.pk)
    # the five were handed to the backend before the failure: unknown, not sent twice
    assert len(mail.outbox) == 5
    assert done.status == CampaignStatus.COMPLETED and done.unknown_count == 5


# --- unsubscribe, bounce -------------------------------------------------------------------------
def test_unsubscribe_link_is_recorded_and_later_campaigns_skip_the_member(operator, client):
    job = make_job()
    members = make_members(3, job=job)
    first = make_campaign(operator, job=job)
    services.campaign_start(actor=operator, campaign=first, enqueue=False)
    services.campaign_send(campaign_id=first.pk)
    url = re.search(r"Unsubscribe: (\S+)", mail.outbox[0].body).group(1)
    path = url.split("://", 1)[1].split("/", 1)[1]
    client.logout()
    assert client.get(f"/{path}").status_code == 200  # a link scanner's GET changes nothing
    assert not Unsubscription.objects.exists()
    response = client.post(f"/{path}", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200 and b"unsubscribed" in response.content
    unsub = Unsubscription.objects.get()
    assert unsub.member == members[0] and unsub.campaign == first
    event = AuditEvent.objects.get(action="mailing.member.unsubscribed")
    assert event.actor is None and event.job_id == job.pk
    assert client.post(f"/{path}").status_code == 200  # twice: still one, audited once
    assert AuditEvent.objects.filter(action="mailing.member.unsubscribed").count() == 1
    assert client.post("/mailings/unsubscribe/forged:token/").status_code == 400

    second = make_campaign(operator, job=job, name="Second")
    second = services.campaign_start(actor=operator, campaign=second, enqueue=False)
    assert second.skipped_count == 1
    services.campaign_send(campaign_id=second.pk)
    assert len(mail.outbox) == 3 + 2
    skipped = Recipient.objects.get(campaign=second, status=RecipientStatus.SKIPPED)
    assert skipped.member == members[0] and skipped.skip_reason == SkipReason.UNSUBSCRIBED


def test_unsubscribed_while_the_campaign_is_queued_is_skipped(operator):
    job = make_job()
    members = make_members(3, job=job)
    campaign = make_campaign(operator, job=job)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    services.recipient_unsubscribe(token=services.unsubscribe_token(members[2].pk, None))
    done = services.campaign_send(campaign_id=campaign.pk)
    assert len(mail.outbox) == 2 and done.skipped_count == 1 and done.percent == 100


def test_a_bounce_reported_by_the_provider(operator):
    job = make_job()
    make_members(2, job=job)
    campaign = make_campaign(operator, job=job)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    services.campaign_send(campaign_id=campaign.pk)
    message_id = mail.outbox[1].extra_headers["Message-ID"]
    rec = services.recipient_bounce(message_id=message_id, reason="550 5.1.1 no such user")
    assert rec.status == RecipientStatus.BOUNCED and rec.email == "m1@example.com"
    c = fresh(campaign)
    assert (c.sent_count, c.bounced_count) == (1, 1)
    assert services.recipient_bounce(message_id=message_id).status == RecipientStatus.BOUNCED
    assert services.recipient_bounce(message_id="<unknown@x>") is None
    assert events("mailing.recipient.bounced", campaign).count() == 1
    # a report naming only the address (the provider's own message ids)
    other = services.recipient_bounce(email="M0@example.com", reason="mailbox full")
    assert other.status == RecipientStatus.BOUNCED and other.email == "m0@example.com"
    assert fresh(campaign).sent_count == 0 and fresh(campaign).bounced_count == 2
    assert events("mailing.recipient.bounced", campaign).count() == 2


# --- permissions ---------------------------------------------------------------------------------
def test_viewers_cannot_create_or_send(user_factory, operator):
    viewer = user_factory("viewer")
    with pytest.raises(PermissionDenied):
        make_campaign(viewer)
    campaign = make_campaign(operator)
    for call in (
        lambda: services.campaign_start(actor=viewer, campaign=campaign, enqueue=False),
        lambda: services.campaign_dry_run(actor=viewer, campaign=campaign),
        lambda: services.campaign_cancel(actor=viewer, campaign=campaign),
        lambda: services.campaign_update(actor=viewer, campaign=campaign, name="x"),
    ):
        with pytest.raises(PermissionDenied):
            call()
    assert fresh(campaign).status == CampaignStatus.DRAFT
    assert services.campaign_preview(actor=viewer, campaign=campaign) == []  # a read: allowed


def test_unknown_messages_and_failed_senders_wait_for_an_operator(operator, user_factory):
    from mailings.waiting import items

    job = make_job()
    make_members(5, job=job)
    campaign = make_campaign(operator, job=job)
    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    assert items(operator) == []
    services._begin(campaign.pk)
    services._claim(campaign.pk, 2)
    services._fail(campaign.pk, RuntimeError("worker lost"))
    (item,) = items(operator)
    assert item.url == campaign.get_absolute_url() and "resume" in item.detail
    assert items(user_factory("viewer")) == []
    services.campaign_resume(actor=operator, campaign=campaign, enqueue=False)
    services.campaign_send(campaign_id=campaign.pk)
    (item,) = items(operator)
    assert item.url.endswith("?status=unknown") and "2 message(s)" in item.detail
