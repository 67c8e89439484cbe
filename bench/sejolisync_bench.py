"""Sejoli order sync: how many deliveries a second the endpoint takes and the processing applies.

    createdb -h 127.0.0.1 -U postgres opsportal_sejoli_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal_sejoli_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/sejolisync_bench.py [--orders 300] [--workers 1 2]

1. Makes a shop hook and ``--orders`` orders' worth of Sejoli-shaped deliveries: each order goes
   on-hold → payment-confirm → completed, one in five is then refunded, a third have an affiliate,
   buyers repeat (one per three orders); every tenth delivery is posted twice, and the whole
   stream is shuffled in windows of 8 (deliveries overtaking each other), as a busy shop's
   webhook plugin retries and races.
2. Posts them to ``/hooks/sejoli/<token>/`` through Django's full request stack (middleware,
   token check, the raw log, the task enqueued in django-q2's ORM queue) from ``--clients``
   threads: the receive rate.
3. Processes the queued deliveries as django-q2's workers do (``tasks.process_delivery`` by id),
   with ``--workers`` threads, each its own database connection: the processing rate, which must
   stay above 50 deliveries per second (the issue's goal), and the outcome counts.
"""

import argparse
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.stdout.reconfigure(line_buffering=True)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["Q_SYNC"] = "false"  # enqueue into the ORM queue, as in production

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from imports.choices import CommissionKind  # noqa: E402
from imports.models import Product  # noqa: E402
from sejolisync import services, tasks  # noqa: E402
from sejolisync.choices import DeliveryState  # noqa: E402
from sejolisync.models import Delivery  # noqa: E402

GOAL = 50.0


def deliveries(run: str, orders: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    out = []
    for i in range(orders):
        buyer = i // 3
        affiliate = 40 + (i % 7) if i % 3 == 0 else 0
        base = {
            "orderId": f"{run}{i:05d}",
            "productId": "12",
            "productName": "Kelas Ekspor Pemula" if i % 2 else "Membership VIP Trader 1 Tahun",
            "buyerName": f"Pembeli {buyer}",
            "buyerEmail": f"pembeli.{run}.{buyer}@example.com",
            "buyerPhone": f"0812{rnd.randrange(10**7, 10**8)}",
            "amount": "299000" if i % 2 else "2400000",
            "createdAt": "2024-07-22 20:24:00",
            "affiliateCode": str(affiliate),
            "affiliateName": f"Afiliasi {affiliate}" if affiliate else "",
            "affiliateEmail": f"afiliasi.{affiliate}@example.com" if affiliate else "",
        }
        statuses = ["on-hold", "payment-confirm", "completed"]
        if i % 5 == 0:
            statuses.append("refunded")
        for status in statuses:
            paid = status != "on-hold"
            body = dict(base, orderStatus=status, paidAt="2024-07-22 20:31:05" if paid else "")
            out.append(body)
            if len(out) % 10 == 0:
                out.append(body)  # a retry
    # deliveries overtake each other within a window
    for start in range(0, len(out), 8):
        window = out[start : start + 8]
        rnd.shuffle(window)
        out[start : start + 8] = window
    return out


def products() -> None:
    names = (("Kelas Ekspor Pemula", 299000), ("Membership VIP Trader 1 Tahun", 2400000))
    for name, price in names:
        Product.objects.get_or_create(
            name=name,
            defaults={
                "price": Decimal(price),
                "commission_kind": CommissionKind.PERCENT,
                "commission_value": Decimal("20"),
                "access_days": 365,
            },
        )


def receive(url: str, bodies: list[dict], clients: int) -> tuple[float, list[int]]:
    """``clients`` threads post the deliveries (in turn: thread i posts every i-th), as a web
    server's workers take a shop's concurrent posts."""
    ids: list[tuple[int, int]] = []
    errors = []

    def post(start: int) -> None:
        client = Client()
        try:
            for n in range(start, len(bodies), clients):
                response = client.post(url, bodies[n], content_type="application/json")
                assert response.status_code == 202, response.content
                ids.append((n, response.json()["delivery"]))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=post, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started, [pk for _, pk in sorted(ids, key=lambda p: p[1])]


def process(ids: list[int], workers: int) -> float:
    """Each worker takes the next queued delivery, in arrival order, as django-q2's do."""
    lock = threading.Lock()
    queue = list(ids)
    errors = []

    def work():
        try:
            while True:
                with lock:
                    if not queue:
                        return
                    pk = queue.pop(0)
                tasks.process_delivery(pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=4, help="threads posting deliveries")
    args = parser.parse_args()
    setup_test_environment()  # the test client's testserver host
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    products()
    for workers in args.workers:
        run = f"B{int(time.time()) % 10**6:06d}w{workers}-"
        hook = services.hook_create(actor=None, name=f"bench {run}")
        bodies = deliveries(run, args.orders)
        seconds, ids = receive(hook.url, bodies, args.clients)
        print(
            f"received {len(ids)} deliveries with {args.clients} clients in {seconds:.2f} s: "
            f"{len(ids) / seconds:.0f} deliveries/s (request stack, token, raw log, enqueue)"
        )
        seconds = process(ids, workers)
        rate = len(ids) / seconds
        counts = {}
        for state in Delivery.objects.filter(pk__in=ids).values_list("state", flat=True):
            counts[state] = counts.get(state, 0) + 1
        failed = counts.get(DeliveryState.FAILED, 0) + counts.get(DeliveryState.INVALID, 0)
        verdict = "OK" if rate >= GOAL and not failed else "BELOW GOAL" if not failed else "FAILED"
        print(
            f"processed {len(ids)} deliveries of {args.orders} orders with {workers} worker(s) in "
            f"{seconds:.2f} s: {rate:.0f} deliveries/s ({verdict}, goal {GOAL:.0f}/s) {counts}"
        )
        services.hook_switch(actor=None, hook=hook.hook, enabled=False, reason="bench done")


if __name__ == "__main__":
    main()
