"""Two workers draining one shop's queue at once (PostgreSQL: SKIP LOCKED and advisory locks)."""

import random
import threading

import pytest
from django.db import connections

from imports.models import Commission, Member, Order
from sejolisync import payload, services
from sejolisync.choices import STATUS_RANK, DeliveryState
from sejolisync.models import Delivery

from .payloads import delivery

STATUSES = ["on-hold", "payment-confirm", "completed", "refunded"]


@pytest.mark.django_db(transaction=True)
def test_two_workers_share_a_queue_without_failures(postgres_only, shop, product, monkeypatch):
    monkeypatch.setattr(services, "async_task", lambda *a, **k: None)  # the workers below
    bodies = []
    for i in range(12):
        buyer = "dimas" if i % 2 else "yuni"  # buyers and the affiliate shared across orders
        for status in STATUSES[: 3 + (i % 2)]:
            bodies.append(delivery(7000 + i, status, buyer=buyer, paid=status != "on-hold"))
    bodies *= 2
    random.Random(5).shuffle(bodies)
    for body in bodies:
        services.delivery_receive(
            hook=shop.hook, fields=payload.read_pairs(body.items()), raw="", content_type=""
        )
    errors = []

    def work():
        try:
            while True:
                first = Delivery.objects.filter(state=DeliveryState.QUEUED).order_by("pk").first()
                if first is None:
                    return
                services.delivery_process(delivery_id=first.pk, limit=7)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    states = set(Delivery.objects.values_list("state", flat=True))
    assert states <= {DeliveryState.PROCESSED, DeliveryState.DUPLICATE, DeliveryState.STALE}
    final = dict(Order.objects.values_list("inv", "status"))
    assert final == {
        str(7000 + i): max(STATUSES[: 3 + (i % 2)], key=STATUS_RANK.get) for i in range(12)
    }
    assert Member.objects.count() == 2
    assert Commission.objects.filter(status="cancelled").count() == 6  # the refunded ones
    assert Commission.objects.filter(status="added").count() == 6
