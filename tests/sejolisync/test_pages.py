"""Hook pages, the delivery page (personal data for operators only), the switch, the dashboard
panel and the ``sejoli_hook`` command."""

import json

import pytest
from django.core.management.base import CommandError

from opsportal.audit.models import AuditEvent
from sejolisync import payload
from sejolisync.models import Delivery, ShopHook

from .payloads import delivery

pytestmark = pytest.mark.django_db


def test_command_creates_lists_and_disables(make_hook_command):
    out = json.loads(make_hook_command("create", "--name", "kelas-ekspor", "--json"))
    hook = ShopHook.objects.get(pk=out["id"])
    assert out["url"].startswith("/hooks/sejoli/") and out["url"].endswith("/")
    token = out["url"].split("/")[3]
    assert len(token) >= 40
    assert hook.token_hash == payload.token_hash(token) and token not in hook.token_hash
    assert not hook.signed
    event = AuditEvent.objects.get(action="sejolisync.hook.created")
    assert token not in json.dumps(event.changes)
    signed = json.loads(make_hook_command("create", "--name", "toko-2", "--signed", "--json"))
    assert len(signed["signing_secret"]) >= 40
    listed = json.loads(make_hook_command("list", "--json"))["hooks"]
    assert [h["name"] for h in listed] == ["kelas-ekspor", "toko-2"]
    assert token not in json.dumps(listed) and signed["signing_secret"] not in json.dumps(listed)
    with pytest.raises(CommandError):
        make_hook_command("create", "--name", "kelas-ekspor")
    make_hook_command("disable", "kelas-ekspor")
    hook.refresh_from_db()
    assert not hook.enabled
    assert AuditEvent.objects.filter(action="sejolisync.hook.disabled", target_id=str(hook.pk))


def test_pages_need_a_login_and_the_view_permission(client, client_for, shop):
    response = client.get("/sejoli/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    c, _ = client_for("viewer")
    assert c.get("/sejoli/").status_code == 200
    assert c.get(shop.hook.get_absolute_url()).status_code == 200


def test_personal_data_is_for_operators(post, shop, product, client_for):
    post(shop, delivery(6101, "completed"))
    d = Delivery.objects.get()
    viewer, _ = client_for("viewer")
    page = viewer.get(d.get_absolute_url())
    assert page.status_code == 200
    assert b"dimas.rahmawati@example.com" not in page.content
    assert b'data-testid="payload-hidden"' in page.content
    hook_page = viewer.get(shop.hook.get_absolute_url())
    assert b"dimas" not in hook_page.content.lower()
    operator, _ = client_for("operator")
    page = operator.get(d.get_absolute_url())
    assert b"dimas.rahmawati@example.com" in page.content
    assert b'data-testid="delivery-raw"' in page.content


def test_viewers_cannot_replay_or_switch(post, shop, product, client_for, monkeypatch):
    from sejolisync import services

    monkeypatch.setattr(services, "_apply_orders", lambda *a, **k: 1 / 0)
    post(shop, delivery(6201, "completed"))
    d = Delivery.objects.get()
    viewer, _ = client_for("viewer")
    assert viewer.post(f"/sejoli/deliveries/{d.pk}/replay/").status_code == 403
    assert viewer.post(f"/sejoli/hooks/{shop.hook.pk}/replay/").status_code == 403
    assert viewer.get(f"/sejoli/hooks/{shop.hook.pk}/processing/").status_code == 403
    assert b"Replay" not in viewer.get(shop.hook.get_absolute_url()).content
    assert not AuditEvent.objects.filter(action="sejolisync.delivery.replayed").exists()


def test_the_switch_page_turns_processing_off_with_a_reason(client_for, shop):
    operator, user = client_for("operator")
    url = f"/sejoli/hooks/{shop.hook.pk}/processing/"
    assert operator.get(url).status_code == 200
    missing_reason = operator.post(url, {"processing": ""})
    assert missing_reason.status_code == 200 and not missing_reason.context["form"].is_valid()
    response = operator.post(url, {"processing": "", "reason": "Sejoli decommissioned"})
    assert response.status_code == 302
    shop.hook.refresh_from_db()
    assert not shop.hook.processing
    event = AuditEvent.objects.get(action="sejolisync.hook.updated")
    assert event.actor == user and event.message == "Sejoli decommissioned"


def test_replay_all_failures_from_the_hook_page(post, shop, product, client_for, monkeypatch):
    from sejolisync import services

    from .conftest import committed

    real = services._apply_orders
    monkeypatch.setattr(services, "_apply_orders", lambda *a, **k: 1 / 0)
    post(shop, delivery(6301, "on-hold", paid=False))
    post(shop, delivery(6302, "completed"))
    assert Delivery.objects.filter(state="failed").count() == 2
    monkeypatch.setattr(services, "_apply_orders", real)
    operator, _ = client_for("operator")
    with committed():
        response = operator.post(f"/sejoli/hooks/{shop.hook.pk}/replay/")
    assert response.status_code == 302
    assert set(Delivery.objects.values_list("state", flat=True)) == {"processed"}
    assert AuditEvent.objects.filter(action="sejolisync.delivery.replayed").count() == 2


def test_the_dashboard_shows_the_sync(post, shop, product, client_for):
    post(shop, delivery(6401, "completed"))
    operator, _ = client_for("operator")
    page = operator.get("/")
    assert page.status_code == 200
    assert b'data-testid="sejoli-sync-panel"' in page.content
    assert b"1 of 1 shop processing" in page.content


def test_hook_list_shows_status_and_refusals(client, client_for, shop, product, post):
    post(shop, delivery(6501, "completed"))
    client.post("/hooks/sejoli/nope/", b"{}", content_type="application/json")
    viewer, _ = client_for("viewer")
    page = viewer.get("/sejoli/")
    assert b"kelas-ekspor" in page.content
    assert b"Unknown or disabled hook" in page.content
    assert page.context["status"]["refused"] == 1


def test_pages_do_not_query_per_row(post, shop, product, client_for, django_assert_max_num_queries):
    for n in range(12):
        post(shop, delivery(6600 + n, "completed"))
    Delivery.objects.filter(order_ref="6600").update(state="failed", error="boom")
    operator, _ = client_for("operator")
    operator.get("/sejoli/")  # the session and permission caches
    with django_assert_max_num_queries(12):
        assert operator.get("/sejoli/").status_code == 200
    with django_assert_max_num_queries(14):
        page = operator.get(shop.hook.get_absolute_url())
    assert len(page.context["deliveries"]) == 12 and len(page.context["failures"]) == 1
    d = Delivery.objects.first()
    with django_assert_max_num_queries(10):
        assert operator.get(d.get_absolute_url()).status_code == 200
