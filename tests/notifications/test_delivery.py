"""Delivery that is reliable and honest, against a real HTTP receiver on 127.0.0.1: retries with
backoff, a delivery log that says what happened, a failing channel on the dashboard, each
service's payload, and the address policy."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from environments import services as env_services
from notifications import engine, sending, services
from notifications.models import Channel, Delivery, DeliveryStatus, Notification
from opsportal.audit.models import AuditEvent

from .conftest import committed

pytestmark = pytest.mark.django_db


def submit(people, prod, key="FEATURE_FLAG"):
    with committed():
        result = env_services.configvar_save(
            actor=people["op"], environment=prod, key=key, value="on", is_secret=False,
            reason="launch",
        )  # fmt: skip
    assert AuditEvent.objects.filter(action="changerequest.created").exists()
    return result.change_request


def channel(people, receiver, kind="webhook", name="hook", **kwargs):
    with committed():
        made = services.channel_create(
            actor=people["admin"], name=f"#{name}", kind=kind, url=receiver.hook(name), **kwargs
        )
    assert AuditEvent.objects.filter(action="notification.channel.created", target_id=made.pk)
    return made


def admin_client(people) -> Client:
    client = Client()
    client.force_login(people["admin"])
    return client


def test_fails_twice_then_succeeds_with_backoff_and_an_honest_log(people, prod, receiver):
    hook = channel(people, receiver, events=["changerequest.submitted"])
    receiver.script = [500, 500, 200]
    started = timezone.now()
    submit(people, prod)

    d = Delivery.objects.get(channel=hook)
    assert (d.status, d.attempts) == (DeliveryStatus.RETRYING, 1)
    assert d.last_error == "127.0.0.1 answered HTTP 500: invalid_payload: try later."
    first_pause = d.next_attempt_at - started
    assert timedelta(seconds=29) < first_pause < timedelta(seconds=40)
    hook.refresh_from_db()
    assert hook.failing and hook.consecutive_failures == 1

    # The dashboard tells admins the channel is failing, with the error, never the URL.
    page = admin_client(people).get("/").content.decode()
    assert 'data-testid="failing-channel"' in page and "HTTP 500" in page
    assert "XyZ9aB7cD5eF3gH1" not in page

    # Not due yet: the tick leaves it alone.
    engine.tick(started + timedelta(seconds=5))
    assert len(receiver.posts) == 1
    engine.tick(d.next_attempt_at + timedelta(seconds=1))
    d.refresh_from_db()
    assert (d.status, d.attempts) == (DeliveryStatus.RETRYING, 2)
    second_pause = d.next_attempt_at - started
    assert second_pause > timedelta(seconds=120)  # backoff grows: 30 s, then 2 min

    engine.tick(d.next_attempt_at + timedelta(seconds=1))
    d.refresh_from_db()
    assert (d.status, d.attempts) == (DeliveryStatus.SENT, 3)
    assert d.sent_at is not None and d.next_attempt_at is None
    assert "HTTP 500" in d.last_error  # what went wrong before stays readable
    assert len(receiver.posts) == 3
    assert receiver.posts[0]["raw"] == receiver.posts[2]["raw"]  # the same message each time
    hook.refresh_from_db()
    assert not hook.failing and hook.last_success_at is not None

    log = admin_client(people).get("/notifications/deliveries/").content.decode()
    assert f'data-delivery="{d.pk}" data-status="sent"' in log
    assert "127.0.0.1 answered HTTP 500" in log
    assert "XyZ9aB7cD5eF3gH1" not in log
    assert 'data-testid="failing-channel"' not in admin_client(people).get("/").content.decode()


def test_gives_up_after_the_last_attempt(people, prod, receiver, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    hook = channel(people, receiver)
    receiver.script = [503]
    submit(people, prod)
    d = Delivery.objects.get(channel=hook)
    engine.tick(d.next_attempt_at + timedelta(seconds=1))
    d.refresh_from_db()
    assert (d.status, d.attempts, d.next_attempt_at) == (DeliveryStatus.FAILED, 2, None)
    engine.tick(timezone.now() + timedelta(days=1))
    assert len(receiver.posts) == 2

    # an admin fixes the receiver and sends it again (audited)
    receiver.script = [200]
    response = admin_client(people).post(f"/notifications/deliveries/{d.pk}/retry/")
    assert response.status_code == 302
    d.refresh_from_db()
    assert (d.status, d.attempts) == (DeliveryStatus.SENT, 3)
    assert AuditEvent.objects.filter(action="notification.delivery.retried", target_id=d.pk)


def test_a_permanent_refusal_is_not_retried_and_retry_after_is_honoured(people, prod, receiver):
    gone = channel(people, receiver, name="gone")
    receiver.script = [404]
    submit(people, prod, key="A_FLAG")
    d = Delivery.objects.get(channel=gone)
    assert d.status == DeliveryStatus.FAILED and d.attempts == 1
    assert "HTTP 404" in d.last_error

    busy = channel(people, receiver, name="busy")
    receiver.posts.clear()
    receiver.script = [429, 200]
    started = timezone.now()
    submit(people, prod, key="B_FLAG")
    d = Delivery.objects.get(channel=busy)
    assert d.status == DeliveryStatus.RETRYING
    assert d.next_attempt_at - started >= timedelta(seconds=89)  # Retry-After: 90


def test_internal_addresses_are_refused_unless_allowed(people, prod, receiver, settings):
    hook = channel(people, receiver)
    settings.NOTIFY_ALLOWED_NETWORKS = []
    submit(people, prod)
    d = Delivery.objects.get(channel=hook)
    assert d.status == DeliveryStatus.FAILED
    assert "non-public address (loopback)" in d.last_error
    assert "NOTIFY_ALLOWED_NETWORKS" in d.last_error
    assert not receiver.posts  # nothing was sent


def test_a_worker_that_died_while_sending_is_tried_again(people, prod, receiver):
    hook = channel(people, receiver)
    receiver.script = [500, 200]
    submit(people, prod)
    d = Delivery.objects.get(channel=hook)
    Delivery.objects.filter(pk=d.pk).update(
        status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(hours=1)
    )
    engine.tick(timezone.now())
    d.refresh_from_db()
    assert d.status == DeliveryStatus.SENT and d.attempts == 2


def test_each_service_gets_its_own_payload(people, prod, receiver):
    for kind in ("slack", "discord", "teams", "webhook"):
        channel(people, receiver, kind=kind, name=kind)
    cr = submit(people, prod, key="STRIPE_PUBLISHABLE_KEY")
    link = f"https://ops.example.test{cr.get_absolute_url()}"

    slack = receiver.bodies("/slack")[0]
    assert set(slack) == {"text", "unfurl_links", "unfurl_media"}
    assert slack["text"].startswith(f"*Change request #{cr.pk} waits for approval")
    assert f"<{link}|Open in opsportal>" in slack["text"]

    discord = receiver.bodies("/discord")[0]
    assert discord["allowed_mentions"] == {"parse": []}  # never pings anyone
    assert len(discord["content"]) <= 2000
    assert discord["content"].endswith(f"<{link}>")
    assert "STRIPE\\_PUBLISHABLE\\_KEY" in discord["content"]  # markdown escaped

    teams = receiver.bodies("/teams")[0]
    assert teams["type"] == "message"
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["actions"][0]["url"] == link
    assert card["body"][0]["text"].startswith(f"Change request #{cr.pk}")

    generic = receiver.bodies("/webhook")[0]
    assert generic["event"] == "changerequest.submitted" and generic["url"] == link
    assert generic["facts"]["Environment"] == "makalah.ai / prod"
    for post in receiver.posts:
        assert post["headers"]["Content-Type"] == "application/json; charset=utf-8"


def test_deleting_a_channel_keeps_its_log_and_stops_its_messages(people, prod, receiver):
    hook = channel(people, receiver)
    receiver.script = [500]
    submit(people, prod)
    d = Delivery.objects.get(channel=hook)
    assert (
        admin_client(people).post(f"/notifications/channels/{hook.pk}/delete/").status_code == 302
    )
    assert AuditEvent.objects.filter(action="notification.channel.deleted").exists()
    assert not Channel.objects.filter(pk=hook.pk).exists()
    d.refresh_from_db()
    assert d.channel is None and d.channel_label == "#hook (Generic JSON webhook)"
    engine.tick(timezone.now() + timedelta(hours=1))
    d.refresh_from_db()
    assert d.status == DeliveryStatus.FAILED
    assert d.last_error == "The channel was disabled or deleted."


def test_the_test_button_sends_through_the_log(people, receiver):
    hook = channel(people, receiver)
    response = admin_client(people).post(f"/notifications/channels/{hook.pk}/test/", follow=True)
    assert "Test message sent to #hook" in response.content.decode()
    assert AuditEvent.objects.filter(action="notification.channel.tested", target_id=hook.pk)
    (body,) = receiver.bodies()
    assert body["event"] == "notification.test"
    note = Notification.objects.get(event="notification.test")
    assert note.deliveries.get().status == DeliveryStatus.SENT


def test_backoff_grows_and_is_capped():
    pauses = [sending.backoff(n).total_seconds() for n in range(1, 9)]
    assert pauses[:5] == [30, 120, 480, 1920, 7680]
    assert max(pauses) == 6 * 3600


def test_the_delivery_log_filters_and_refuses_nothing_odd(people, prod, receiver):
    hook = channel(people, receiver)
    submit(people, prod)
    client = admin_client(people)
    note = Notification.objects.get(event="changerequest.submitted")
    page = client.get(f"/notifications/deliveries/?channel={hook.pk}").content.decode()
    assert page.count("data-delivery=") == 1
    page = client.get("/notifications/deliveries/?channel=email&status=sent").content.decode()
    assert page.count("data-delivery=") == 3  # the three approvers' e-mails
    odd = "/notifications/deliveries/?channel=%C2%B2&notification=99999999999999999999999"
    assert client.get(odd).status_code == 200
    assert client.get(f"/notifications/deliveries/?notification={note.pk}").status_code == 200
