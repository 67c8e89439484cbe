"""E-mail through Django's backends: what people receive (locmem), once through a real SMTP
server on loopback (aiosmtpd), each person's preferences and the daily digest."""

from __future__ import annotations

import socket
from datetime import timedelta
from email import message_from_bytes

import environ
import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from environments import services as env_services
from notifications import engine
from notifications.models import Delivery, DeliveryStatus, Preference
from opsportal.audit.models import AuditEvent

from .conftest import committed

pytestmark = pytest.mark.django_db


def submit(people, prod, key="FEATURE_FLAG"):
    with committed():
        result = env_services.configvar_save(
            actor=people["op"], environment=prod, key=key, value="on", is_secret=False,
            reason="needed for the launch",
        )  # fmt: skip
    assert AuditEvent.objects.filter(action="changerequest.created").exists()
    return result.change_request


def test_approvers_get_the_change_request_by_email(people, prod):
    cr = submit(people, prod)
    assert sorted(m.to[0] for m in mail.outbox) == [
        "ada@example.com", "anna@example.com", "april@example.com",
    ]  # fmt: skip
    message = next(m for m in mail.outbox if m.to == ["anna@example.com"])
    assert message.subject == (
        f"[opsportal] Change request #{cr.pk} waits for approval: makalah.ai / prod"
    )
    assert message.from_email == "opsportal <ops@example.test>"
    assert message.extra_headers["Auto-Submitted"] == "auto-generated"
    assert "otto asks to add FEATURE_FLAG on makalah.ai / prod." in message.body
    assert "Reason: needed for the launch" in message.body
    assert f"Open in opsportal: https://ops.example.test{cr.get_absolute_url()}" in message.body
    assert "You receive this as an approver who may decide it." in message.body
    assert "https://ops.example.test/notifications/preferences/" in message.body
    # the author and people who cannot approve hear nothing
    assert not [m for m in mail.outbox if m.to[0] in ("otto@example.com", "vic@example.com")]


def test_preferences_turn_an_event_off_or_into_the_digest(people, prod, settings):
    settings.NOTIFY_DIGEST_HOUR = 7
    anna, april = people["ap"], people["ap2"]
    client = Client()
    client.force_login(anna)
    response = client.post("/notifications/preferences/", {"changerequest.submitted": "digest"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="notification.preferences.changed")
    assert event.changes == {"changerequest.submitted": ["immediate", "digest"]}
    Preference.objects.create(user=april, event="changerequest.submitted", mode="off")

    submit(people, prod, key="FIRST_FLAG")
    submit(people, prod, key="SECOND_FLAG")
    assert sorted({m.to[0] for m in mail.outbox}) == ["ada@example.com"]  # at once: admin only
    waiting = Delivery.objects.filter(recipient=anna, status=DeliveryStatus.DIGEST)
    assert waiting.count() == 2
    assert not Delivery.objects.filter(recipient=april).exists()  # off: nothing at all
    due = waiting.first().next_attempt_at
    assert timezone.localtime(due).hour == 7 and due > timezone.now()

    mail.outbox.clear()
    engine.tick(due - timedelta(minutes=1))
    assert not mail.outbox
    engine.tick(due + timedelta(minutes=1))
    (digest,) = mail.outbox
    assert digest.to == ["anna@example.com"]
    assert digest.subject == "[opsportal] Daily digest: 2 notification(s)"
    assert "FIRST_FLAG" in digest.body and "SECOND_FLAG" in digest.body
    assert digest.body.count("https://ops.example.test/environments/change-requests/") == 2
    assert not waiting.exclude(status=DeliveryStatus.SENT).exists()
    engine.tick(due + timedelta(days=1))
    assert len(mail.outbox) == 1  # sent once


def test_the_preferences_page_shows_every_event_with_its_default(people):
    client = Client()
    client.force_login(people["op"])
    page = client.get("/notifications/preferences/").content.decode()
    assert 'data-event="changerequest.submitted"' in page
    assert 'data-event="import.finished"' in page
    assert "otto@example.com" in page
    response = client.post("/notifications/preferences/", {"import.finished": "loud"})
    assert response.status_code == 200  # the form says what is wrong
    assert not AuditEvent.objects.filter(action="notification.preferences.changed").exists()


def test_someone_without_an_address_is_logged_not_mailed(people, prod):
    april = people["ap2"]
    april.email = ""
    april.save(update_fields=["email"])
    submit(people, prod)
    d = Delivery.objects.get(recipient=april)
    assert d.status == DeliveryStatus.SKIPPED and "no e-mail address" in d.last_error


def test_email_url_configures_django_backends():
    parse = environ.Env.email_url_config
    smtp = parse("smtp+tls://ops%40example.com:app-password@smtp.example.com:587")
    assert smtp["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (smtp["EMAIL_HOST"], smtp["EMAIL_PORT"], smtp["EMAIL_USE_TLS"]) == (
        "smtp.example.com", 587, True,
    )  # fmt: skip
    assert smtp["EMAIL_HOST_USER"] == "ops@example.com"
    assert parse("consolemail://")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    assert parse("filemail:////var/mail/opsportal")["EMAIL_FILE_PATH"] == "/var/mail/opsportal"


# --- a real SMTP server on loopback ---------------------------------------------------------------
class Inbox:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    inbox = Inbox()
    port = _free_port()
    controller = controller_mod.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    config = environ.Env.email_url_config(f"smtp://127.0.0.1:{port}")
    for key, value in config.items():
        if value not in (None, ""):
            setattr(settings, key, value)
    settings.EMAIL_TIMEOUT = 10
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_through_a_real_smtp_server_on_loopback(people, prod, smtp_server):
    inbox, _port = smtp_server
    cr = submit(people, prod)
    assert sorted(rcpt for e in inbox.envelopes for rcpt in e.rcpt_tos) == [
        "ada@example.com", "anna@example.com", "april@example.com",
    ]  # fmt: skip
    envelope = next(e for e in inbox.envelopes if e.rcpt_tos == ["anna@example.com"])
    assert envelope.mail_from == "ops@example.test"
    parsed = message_from_bytes(envelope.original_content)
    assert parsed["Subject"].startswith(f"[opsportal] Change request #{cr.pk}")
    assert parsed["Auto-Submitted"] == "auto-generated"
    body = parsed.get_payload(decode=True).decode()
    assert f"https://ops.example.test{cr.get_absolute_url()}" in body
    assert set(Delivery.objects.filter(notification__event="changerequest.submitted")
               .values_list("status", flat=True)) == {DeliveryStatus.SENT}  # fmt: skip


def test_an_smtp_server_that_is_down_means_retries(people, prod, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", _free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 5
    submit(people, prod)
    deliveries = Delivery.objects.filter(notification__event="changerequest.submitted")
    assert deliveries.count() == 3
    for d in deliveries:
        assert d.status == DeliveryStatus.RETRYING and d.attempts == 1
        assert "ConnectionRefusedError" in d.last_error
    admin = Client()
    admin.force_login(people["admin"])
    page = admin.get("/").content.decode()
    assert 'data-testid="failing-email"' in page
