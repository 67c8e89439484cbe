"""Chat channels set by admins: the webhook URL is a secret — classified and fingerprinted like
an inventory value, stored encrypted under NOTIFY_ENCRYPTION_KEY, never shown back."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client

from notifications import crypto, services
from notifications.models import Channel
from opsportal.audit.masking import fingerprint
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

SLACK = "https://hooks.slack.com/services/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"
SLACK_2 = "https://hooks.slack.com/services/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"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_admin_adds_a_slack_channel_and_never_sees_its_url_again(people, project):
    admin = client_for(people["admin"])
    response = admin.post(
        "/notifications/channels/new/",
        {"name": "#ops-alerts", "kind": "slack", "url": SLACK, "project": project.pk,
         "events": ["changerequest.submitted", "runbook.second_needed"], "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = Channel.objects.get()
    assert channel.url_kind == "slack_webhook"
    assert channel.url_host == "hooks.slack.com"
    assert channel.url_hint == "…pA9d"  # four characters at most, as for inventory secrets
    assert channel.url_fingerprint == fingerprint(SLACK)
    assert SLACK not in channel.url_encrypted and crypto.decrypt(channel.url_encrypted) == SLACK

    event = AuditEvent.objects.get(action="notification.channel.created")
    assert event.actor == people["admin"]
    assert event.changes["url"]["kind"] == "slack_webhook"
    assert "q8Rz2LmN5vXc7TbW1yK3pA9d" not in str(event.changes)

    secret = "q8Rz2LmN5vXc7TbW1yK3pA9d"
    for url in ("/notifications/channels/", f"/notifications/channels/{channel.pk}/edit/",
                f"/admin/notifications/channel/{channel.pk}/change/", "/audit/"):  # fmt: skip
        page = admin.get(url)
        assert page.status_code == 200, url
        assert secret not in page.content.decode(), url
    listing = admin.get("/notifications/channels/").content.decode()
    assert "Slack webhook URL · hooks.slack.com" in listing
    with connection.cursor() as cur:  # at rest: nothing in the clear in any column
        cur.execute("SELECT * FROM notifications_channel")
        assert secret not in repr(cur.fetchall())


def test_editing_keeps_the_url_unless_a_new_one_is_pasted(people, project):
    channel = services.channel_create(
        actor=people["admin"], name="#ops", kind="slack", url=SLACK, project=project
    )
    admin = client_for(people["admin"])
    form = {"name": "#ops-renamed", "kind": "slack", "url": "", "project": project.pk}
    assert admin.post(f"/notifications/channels/{channel.pk}/edit/", form).status_code == 302
    channel.refresh_from_db()
    assert channel.name == "#ops-renamed" and not channel.enabled  # unticked: off
    assert crypto.decrypt(channel.url_encrypted) == SLACK
    updated = AuditEvent.objects.get(action="notification.channel.updated")
    assert updated.changes["name"] == ["#ops", "#ops-renamed"]
    assert "url" not in updated.changes

    form.update(url=SLACK_2, enabled="on")
    assert admin.post(f"/notifications/channels/{channel.pk}/edit/", form).status_code == 302
    channel.refresh_from_db()
    assert crypto.decrypt(channel.url_encrypted) == SLACK_2
    last = AuditEvent.objects.filter(action="notification.channel.updated").latest("seq")
    assert last.changes["url"][1]["fingerprint"] == fingerprint(SLACK_2)[:16]
    assert "Zp4Kd8sQ1mV6nB3xC7rT2wLy" not in str(last.changes)


def test_only_admins_manage_channels(people):
    for role in ("op", "ap", "viewer"):
        client = client_for(people[role])
        assert client.get("/notifications/channels/").status_code == 403
        assert client.get("/notifications/deliveries/").status_code == 403
        response = client.post(
            "/notifications/channels/new/", {"name": "x", "kind": "slack", "url": SLACK}
        )
        assert response.status_code == 403
    assert not Channel.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="notification.channel").exists()


def test_plain_http_and_non_urls_are_refused(people):
    admin = client_for(people["admin"])
    for url in ("http://hooks.example.com/services/abc", "hooks.slack.com/x", "ftp://x/y"):
        response = admin.post(
            "/notifications/channels/new/", {"name": "#x", "kind": "webhook", "url": url}
        )
        assert response.status_code == 200
        assert "invalid-feedback" in response.content.decode()
    assert not Channel.objects.exists()


def test_the_key_comes_from_the_environment_and_rotates(people, settings):
    channel = services.channel_create(actor=people["admin"], name="#a", kind="slack", url=SLACK)
    old_token = channel.url_encrypted
    settings.NOTIFY_ENCRYPTION_KEY = "a-new-key-for-this-year-0123456789," + (
        "test-notify-key-0123456789-abcdefghijklmnop"
    )
    assert crypto.decrypt(old_token) == SLACK  # the old key still decrypts
    rotated = crypto.rotate(old_token)  # re-encrypted under the first (new) key
    settings.NOTIFY_ENCRYPTION_KEY = "a-new-key-for-this-year-0123456789"
    assert crypto.decrypt(rotated) == SLACK
    with pytest.raises(crypto.KeyMissing, match="no longer lists"):
        crypto.decrypt(old_token)
    settings.NOTIFY_ENCRYPTION_KEY = ""
    with pytest.raises(Exception, match="NOTIFY_ENCRYPTION_KEY is not set"):
        services.channel_create(actor=people["admin"], name="#b", kind="slack", url=SLACK_2)
    assert Channel.objects.count() == 1
    assert AuditEvent.objects.filter(action="notification.channel.created").count() == 1


def test_notify_rekey_moves_every_channel_to_the_new_key(people, settings):
    from io import StringIO

    from django.core.management import call_command

    old = settings.NOTIFY_ENCRYPTION_KEY
    channel = services.channel_create(actor=people["admin"], name="#a", kind="slack", url=SLACK)
    settings.NOTIFY_ENCRYPTION_KEY = f"the-new-key-of-this-year-0123456789,{old}"
    out = StringIO()
    call_command("notify_rekey", stdout=out)
    assert "1 channel(s) re-encrypted" in out.getvalue()
    event = AuditEvent.objects.get(action="notification.channels.rekeyed")
    assert event.actor is None and event.changes == {"channels": [channel.pk]}
    settings.NOTIFY_ENCRYPTION_KEY = "the-new-key-of-this-year-0123456789"  # the old key gone
    channel.refresh_from_db()
    assert crypto.decrypt(channel.url_encrypted) == SLACK
