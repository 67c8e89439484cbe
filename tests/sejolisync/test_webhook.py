"""The shops' endpoint: Sejoli-shaped deliveries update orders, idempotent and out-of-order safe;
refused posts are logged without processing."""

import json
import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from imports.models import AffiliateProfile, Commission, Member, Order, Product
from opsportal.audit.models import AuditEvent
from sejolisync import payload, services
from sejolisync.choices import DeliveryState
from sejolisync.models import Delivery, RefusedDelivery, ShopHook, SyncedOrder

from .payloads import delivery, order_array, snake_case

pytestmark = pytest.mark.django_db


def queued(new, body: dict) -> int:
    """A delivery logged and queued, its processing not yet run (a worker busy elsewhere)."""
    fields = payload.read_pairs(body.items())
    return services.delivery_receive(hook=new.hook, fields=fields, raw="", content_type="").pk


def decided(state: str) -> list[int]:
    """The deliveries the audit trail says were decided ``state``."""
    events = AuditEvent.objects.filter(action="sejolisync.deliveries.processed")
    return [pk for e in events for pk in e.changes["deliveries"].get(state, [])]


def test_a_new_order_is_created_from_a_json_delivery(post, shop, product):
    response = post(shop, delivery(5101, "on-hold", paid=False))
    assert response.status_code == 202
    d = Delivery.objects.get(pk=response.json()["delivery"])
    assert d.state == DeliveryState.PROCESSED, d.error
    order = Order.objects.get(inv="5101")
    assert order.status == "on-hold" and order.total == Decimal("299000")
    assert order.member.email == "dimas.rahmawati@example.com"
    assert order.member.phone == "+6282111148255"
    assert order.affiliate.sejoli_user_id == 48 and order.affiliate.name == "Joko Wijaya"
    # what the delivery tells beyond the export's columns fills the affiliate's blanks
    assert order.affiliate.email == "joko.wijaya@example.com"
    assert order.affiliate.commission_rate == Decimal("0.2000")
    commission = Commission.objects.get(order=order)
    assert (commission.status, commission.amount) == ("pending", Decimal("59800"))
    assert commission.reported_amount == Decimal("59800")
    assert order.job_id is None  # the sync is no import: an import's rollback leaves it alone
    event = AuditEvent.objects.get(action="sejolisync.deliveries.processed")
    assert (event.target_type, event.target_id) == ("sejolisync.shophook", str(shop.hook.pk))
    assert event.changes["deliveries"] == {"processed": [d.pk]}
    assert event.changes["orders"]["5101"] == {
        "before": None,
        "after": "on-hold",
        "outcome": "created",
    }
    assert "dimas" not in json.dumps(event.changes)  # no personal data in the audit trail


def test_status_changes_and_refund_move_the_order_and_its_commission(post, shop, product):
    post(shop, delivery(5102, "on-hold", paid=False))
    post(shop, delivery(5102, "Pembayaran dikonfirmasi"))  # Sejoli's Indonesian label
    post(shop, delivery(5102, "Selesai"))
    order = Order.objects.get(inv="5102")
    assert order.status == "completed"
    assert order.access_expires_at is not None  # 365 access days from the order's date
    assert Commission.objects.get(order=order).status == "added"
    post(shop, delivery(5102, "refunded"))
    order.refresh_from_db()
    assert order.status == "refunded" and order.access_expires_at is None
    assert Commission.objects.get(order=order).status == "cancelled"
    assert SyncedOrder.objects.get(inv="5102").status == "refunded"
    assert Delivery.objects.filter(state=DeliveryState.PROCESSED).count() == 4


def test_form_posts_in_snake_case(post, shop, product):
    response = post(shop, snake_case(delivery(5103, "completed", buyer="yuni")), kind="form")
    assert response.status_code == 202
    d = Delivery.objects.get()
    assert d.content_type.startswith("application/x-www-form-urlencoded")
    assert d.fields["buyer_email"] == "Yuni.Kusuma@Example.com"  # logged as posted
    assert d.state == DeliveryState.PROCESSED, d.error
    order = Order.objects.get(inv="5103")
    assert order.member.email == "yuni.kusuma@example.com"  # normalised as the importer does
    assert order.status == "completed"


def test_camel_case_form_post_and_multipart(post, shop, product, client):
    assert post(shop, delivery(5104, "on-hold"), kind="form").status_code == 202
    with_files = client.post(shop.url, delivery(5105, "on-hold"))  # multipart, as browsers post
    assert with_files.status_code == 202
    assert set(Order.objects.values_list("inv", flat=True)) >= {"5104"}
    assert Delivery.objects.get(order_ref="5105").fields["order_status"] == "on-hold"


def test_sejoli_order_array_is_read(post, shop, product):
    response = post(shop, order_array(5106, "completed"))
    d = Delivery.objects.get(pk=response.json()["delivery"])
    assert d.state == DeliveryState.PROCESSED, d.error
    order = Order.objects.get(inv="5106")
    assert order.product == product  # by Sejoli's product id
    assert order.affiliate.sejoli_user_id == 48
    assert "meta_data" not in d.fields  # nested objects are no fields


def _snapshot() -> dict:
    """The member tables by natural keys (ids differ between runs)."""
    return {
        "members": sorted(Member.objects.values_list("email", "phone", "name")),
        "affiliates": sorted(
            AffiliateProfile.objects.values_list(
                "sejoli_user_id", "name", "email", "phone", "commission_rate", "member__email"
            )
        ),
        "products": sorted(Product.objects.values_list("name", "sejoli_id")),
        "orders": sorted(
            Order.objects.values_list(
                "inv",
                "member__email",
                "product__name",
                "quantity",
                "total",
                "status",
                "created_at",
                "access_expires_at",
                "affiliate__sejoli_user_id",
                "job_id",
            )
        ),
        "commissions": sorted(
            Commission.objects.values_list(
                "order__inv", "affiliate__sejoli_user_id", "amount", "reported_amount", "status"
            )
        ),
        "synced": sorted(SyncedOrder.objects.values_list("inv", "status", "rank", "paid_at")),
    }


def _wipe():
    SyncedOrder.objects.all().delete()
    Commission.objects.all().delete()
    Order.objects.all().delete()
    AffiliateProfile.objects.all().delete()
    Member.objects.all().delete()


IN_ORDER = [
    delivery(5201, "on-hold", paid=False),
    delivery(5202, "on-hold", paid=False, buyer="yuni", affiliate=None, amount="150000"),
    delivery(5201, "payment-confirm"),
    delivery(5203, "on-hold", paid=False, amount="598000"),
    delivery(5201, "completed"),
    delivery(5202, "cancelled", paid=False, buyer="yuni", affiliate=None, amount="150000"),
    delivery(5203, "completed", amount="598000"),
    delivery(5203, "refunded", amount="598000"),
]


def test_replayed_twice_and_out_of_order_leave_the_same_tables(post, shop, product):
    for body in IN_ORDER:
        post(shop, body)
    expected = _snapshot()
    assert {o[0]: o[5] for o in expected["orders"]} == {
        "5201": "completed",
        "5202": "cancelled",
        "5203": "refunded",
    }
    for seed in (1, 2, 3):
        _wipe()
        shuffled = IN_ORDER * 2  # every delivery posted twice
        random.Random(seed).shuffle(shuffled)
        for body in shuffled:
            post(shop, body)
        assert _snapshot() == expected, f"seed {seed}"
    states = set(Delivery.objects.values_list("state", flat=True))
    assert states <= {DeliveryState.PROCESSED, DeliveryState.DUPLICATE, DeliveryState.STALE}
    assert DeliveryState.DUPLICATE in states and DeliveryState.STALE in states
    assert decided("duplicate") and decided("stale")


def test_one_batch_of_shuffled_deliveries_leaves_the_same_tables(post, shop, product):
    for body in IN_ORDER:
        post(shop, body)
    expected = _snapshot()
    _wipe()
    shuffled = IN_ORDER * 2
    random.Random(4).shuffle(shuffled)
    ids = [queued(shop, body) for body in shuffled]
    assert services.delivery_process(delivery_id=ids[0]) == len(ids)  # one batch, one pass
    assert _snapshot() == expected
    event = (
        AuditEvent.objects.filter(action="sejolisync.deliveries.processed").order_by("seq").last()
    )
    assert sorted(pk for pks in event.changes["deliveries"].values() for pk in pks) == ids
    assert set(event.changes["orders"]) == {"5201", "5202", "5203"}


def test_an_older_status_never_regresses_an_imported_order(post, shop, product):
    member = Member.objects.create(email="dimas.rahmawati@example.com", name="Dimas")
    Order.objects.create(
        inv="5301", member=member, product=product, total=299000, status="completed"
    )
    response = post(shop, delivery(5301, "on-hold", paid=False))
    d = Delivery.objects.get(pk=response.json()["delivery"])
    assert d.state == DeliveryState.STALE
    assert Order.objects.get(inv="5301").status == "completed"
    post(shop, delivery(5301, "refunded"))
    assert Order.objects.get(inv="5301").status == "refunded"


def test_invalid_delivery_is_logged_and_not_applied(post, shop, product):
    response = post(shop, delivery(5302, "teleported"))
    assert response.status_code == 202
    d = Delivery.objects.get()
    assert d.state == DeliveryState.INVALID and d.error == "unknown_status"
    assert not Order.objects.exists()
    assert decided("invalid") == [d.pk]


def test_a_wrong_token_is_refused_and_logged_without_processing(client, shop, product):
    for _ in range(6):
        response = client.post(
            "/hooks/sejoli/not-a-token/",
            json.dumps(delivery(5401, "completed")),
            content_type="application/json",
        )
        assert response.status_code == 404
    assert not Delivery.objects.exists() and not Order.objects.exists()
    refusal = RefusedDelivery.objects.get()  # one row per minute, address and reason
    assert (refusal.reason, refusal.count, refusal.hook) == ("unknown_token", 6, None)
    assert AuditEvent.objects.filter(action="sejolisync.delivery.refused").count() == 1


def test_a_disabled_hook_refuses(post, shop, product, make_hook_command):
    make_hook_command("disable", str(shop.hook.pk), "--reason", "shop closed")
    assert post(shop, delivery(5402, "completed")).status_code == 404
    assert not Delivery.objects.exists()
    event = AuditEvent.objects.get(action="sejolisync.hook.disabled")
    assert event.message == "shop closed"


def test_signature_is_checked(post, signed_shop, product, client):
    body = delivery(5501, "completed")
    assert post(signed_shop, body, sign=False).status_code == 401
    wrong = {"HTTP_X_SEJOLI_SIGNATURE": "0" * 64}
    raw = json.dumps(body).encode()
    assert (
        client.post(signed_shop.url, raw, content_type="application/json", **wrong).status_code
        == 401
    )
    assert not Delivery.objects.exists()
    refusal = RefusedDelivery.objects.get()
    assert (refusal.reason, refusal.count, refusal.hook) == ("bad_signature", 2, signed_shop.hook)
    assert post(signed_shop, body).status_code == 202
    from .payloads import signature

    prefixed = {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + signature(signed_shop.signing_secret, raw)}
    response = client.post(signed_shop.url, raw, content_type="application/json", **prefixed)
    assert response.status_code == 202
    assert Order.objects.get(inv="5501").status == "completed"
    # the secret is stored encrypted, never in clear
    hook = ShopHook.objects.get(pk=signed_shop.hook.pk)
    assert signed_shop.signing_secret not in hook.signing_secret_encrypted
    assert services.hook_signing_secret(hook) == signed_shop.signing_secret


def test_body_limits_and_unreadable_bodies(post, shop, client):
    big = json.dumps({"orderId": "1", "notes": "x" * 70_000}).encode()
    response = client.post(shop.url, big, content_type="application/json")
    assert response.status_code == 413
    assert client.post(shop.url, b"[1, 2]", content_type="application/json").status_code == 400
    assert client.post(shop.url, b"<xml/>", content_type="application/xml").status_code == 400
    assert not Delivery.objects.exists()
    assert set(RefusedDelivery.objects.values_list("reason", flat=True)) == {
        "too_large",
        "unreadable",
    }


def test_the_endpoint_takes_only_post_without_login(client, shop):
    assert client.get(shop.url).status_code == 405


def test_switched_off_deliveries_are_logged_and_skipped(post, shop, product, user_factory):
    operator = user_factory("operator")
    services.hook_switch(actor=operator, hook=shop.hook, processing=False, reason="Sejoli is off")
    event = AuditEvent.objects.get(action="sejolisync.hook.updated")
    assert event.changes["processing"] == {"before": True, "after": False}
    response = post(shop, delivery(5601, "completed"))
    assert response.status_code == 202
    d = Delivery.objects.get()
    assert d.state == DeliveryState.SKIPPED and d.raw
    assert not Order.objects.exists()
    assert not AuditEvent.objects.filter(action="sejolisync.deliveries.processed").exists()
    with pytest.raises(services.ValidationError):
        services.delivery_replay(actor=operator, delivery=d)
    services.hook_switch(actor=operator, hook=shop.hook, processing=True, reason="one more day")
    from .conftest import committed

    with committed():
        services.delivery_replay(actor=operator, delivery=d)
    d.refresh_from_db()
    assert d.state == DeliveryState.PROCESSED
    assert Order.objects.get(inv="5601").status == "completed"
    assert AuditEvent.objects.filter(action="sejolisync.delivery.replayed", actor=operator).exists()


def test_a_failure_is_listed_and_replayed(post, shop, product, client_for, monkeypatch):
    real = services._apply_orders

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "_apply_orders", broken)
    post(shop, delivery(5701, "completed"))
    d = Delivery.objects.get()
    assert d.state == DeliveryState.FAILED and "database went away" in d.error
    assert not Order.objects.exists()
    assert decided("failed") == [d.pk]
    monkeypatch.setattr(services, "_apply_orders", real)
    c, operator = client_for("operator")
    page = c.get(shop.hook.get_absolute_url())
    assert b"database went away" in page.content and b"Replay" in page.content
    from .conftest import committed

    with committed():
        response = c.post(f"/sejoli/deliveries/{d.pk}/replay/")
    assert response.status_code == 302
    d.refresh_from_db()
    assert d.state == DeliveryState.PROCESSED and d.attempts == 2
    assert Order.objects.get(inv="5701").status == "completed"
    assert AuditEvent.objects.filter(action="sejolisync.delivery.replayed", actor=operator).exists()


def test_a_redelivered_task_does_nothing(post, shop, product):
    post(shop, delivery(5801, "completed"))
    d = Delivery.objects.get()
    assert services.delivery_process(delivery_id=d.pk) == 0  # the task, handed out again
    d.refresh_from_db()
    assert d.attempts == 1
    assert decided("processed") == [d.pk]


def test_a_failing_order_does_not_fail_the_others_of_its_batch(shop, product, monkeypatch):
    real = services._apply_orders

    def fails_for_5902(groups):
        if "5902" in groups:
            raise RuntimeError("boom")
        return real(groups)

    monkeypatch.setattr(services, "_apply_orders", fails_for_5902)
    ids = [queued(shop, delivery(inv, "completed")) for inv in (5901, 5902, 5903)]
    assert services.delivery_process(delivery_id=ids[0]) == 3
    states = dict(Delivery.objects.values_list("order_ref", "state"))
    assert states == {"5901": "processed", "5902": "failed", "5903": "processed"}
    assert set(Order.objects.values_list("inv", flat=True)) == {"5901", "5903"}
    assert decided("failed") == [ids[1]]


def test_one_task_drains_a_shop_queue_and_the_sweep_catches_the_rest(shop, product, monkeypatch):
    enqueued = []
    monkeypatch.setattr(services, "async_task", lambda func, pk, **kw: enqueued.append(pk))
    from .conftest import committed

    with committed():
        ids = [queued(shop, delivery(inv, "completed")) for inv in (6701, 6702, 6703)]
    assert enqueued == [ids[0]]  # the later posts ride along with the first one's task
    assert services.delivery_process(delivery_id=ids[0]) == 3
    assert set(Delivery.objects.values_list("state", flat=True)) == {"processed"}
    # a post nobody queued a task for (slipped between a batch's read and its follow-up)
    with committed():
        late = queued(shop, delivery(6704, "completed"))
    assert enqueued[-1] == late
    enqueued.clear()
    assert services.deliveries_sweep() == 0  # not waiting long enough yet
    Delivery.objects.filter(pk=late).update(received_at=timezone.now() - timedelta(minutes=5))
    with committed():
        assert services.deliveries_sweep() == 1
    assert enqueued == [late]


def test_a_new_affiliate_is_mapped_to_the_member_with_its_email(post, shop, product):
    joko = Member.objects.create(email="joko.wijaya@example.com", name="Joko")
    post(shop, delivery(6801, "completed"))
    affiliate = AffiliateProfile.objects.get(sejoli_user_id=48)
    assert affiliate.member == joko
    assert Commission.objects.get(order__inv="6801").status == "added"
    # an affiliate's own purchase earns no commission (the importer's rule)
    post(shop, delivery(6802, "completed", buyer="dimas", affiliate=48, buyerEmail=joko.email))
    assert not Commission.objects.filter(order__inv="6802").exists()
