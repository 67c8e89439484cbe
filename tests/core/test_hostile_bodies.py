"""Hostile bodies are refused input, never a 500 (issue 14, item 6): JSON nested deeper than
Python's recursion limit (``json.loads`` raises ``RecursionError``, which is no ``ValueError``)
and NUL bytes, which PostgreSQL keeps in no text."""

import hashlib
import hmac

import pytest
from django.test import Client

from deployments import webhooks
from imports.forms import posted_headers
from opsportal.audit.models import AuditEvent
from sejolisync import services as sejoli
from sejolisync.models import Delivery, RefusedDelivery

NESTED = b"[" * 5000 + b"]" * 5000
NESTED_OBJECT = b'{"data":' * 5000 + b"1" + b"}" * 5000


@pytest.mark.django_db
@pytest.mark.parametrize("body", [NESTED, NESTED_OBJECT], ids=["array", "object"])
def test_a_shop_hook_refuses_a_deeply_nested_body(settings, body):
    settings.NOTIFY_ENCRYPTION_KEY = "test-sejoli-key-0123456789-abcdefghijklmnop"
    shop = sejoli.hook_create(actor=None, name="nested-shop")
    response = Client().post(shop.url, body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Send JSON or form fields."}
    assert not Delivery.objects.exists()
    assert RefusedDelivery.objects.get().reason == "unreadable"
    refused = AuditEvent.objects.get(action="sejolisync.delivery.refused")
    assert refused.changes["reason"] == "unreadable"


def test_a_signed_provider_webhook_with_a_deeply_nested_body_is_refused(settings):
    secret = "vercel-webhook-secret-for-nesting"
    settings.VERCEL_WEBHOOK_SECRETS = [secret]
    signature = hmac.new(secret.encode(), NESTED_OBJECT, hashlib.sha1).hexdigest()
    with pytest.raises(webhooks.WebhookRefused, match="not JSON"):
        webhooks.vercel_event(NESTED_OBJECT, signature)


def test_a_deeply_nested_header_list_posted_back_by_a_page_is_dropped():
    assert posted_headers(NESTED.decode()) == []
    assert posted_headers('["User ID", "name"]') == ["User ID", "name"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"orderId": "1\\u0000", "status": "completed"}', "application/json"),
        (b"orderId=1%00&status=completed", "application/x-www-form-urlencoded"),
        (b"orderId=1&status=completed\x00", "application/x-www-form-urlencoded"),
        (b'{"orderId": "1", "status": "completed"}\x00', "application/json"),
    ],
    ids=["json-escape", "form-escape", "raw-form", "raw-json"],
)
def test_a_shop_hook_refuses_a_nul_byte(settings, body, content_type):
    settings.NOTIFY_ENCRYPTION_KEY = "test-sejoli-key-0123456789-abcdefghijklmnop"
    shop = sejoli.hook_create(actor=None, name="nul-shop")
    response = Client().post(shop.url, body, content_type=content_type)
    assert response.status_code == 400
    assert not Delivery.objects.exists()
    refused = AuditEvent.objects.get(action="sejolisync.delivery.refused")
    assert refused.changes["reason"] == "unreadable"
