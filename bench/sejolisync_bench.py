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
3. Runs the tasks the services queued (an in-memory stand-in for django-q2's queue: a post queues
   a task only when no older delivery waits unclaimed, a batch queues its follow-up) as django-q2's
   workers do (``tasks.process_delivery`` by id), with ``--workers`` threads, each with its own
   database connection: the processing rate, which must stay above 50 deliveries per second (the
   issue's goal), the tasks it took and the outcome counts.
4. ``--live 50``: posting at 50 deliveries a second while one worker runs the tasks as they are
   queued: the rate the posts reached, the deepest backlog and how soon after the last post
   everything is decided.
5. ``--end-to-end 50``: gunicorn (4 workers) and a real ``qcluster`` (2 workers): posts over HTTP
   at 50 a second, the answers' latency and how soon after the last post all is decided.
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


class Broker:
    """django-q2's queue, in memory: ``services.async_task`` puts a task, workers take them in
    order. Counts the tasks (one per post would be one per delivery; one drains many)."""

    def __init__(self):
        self.tasks: list[int] = []
        self.taken = 0
        self.cond = threading.Condition()
        self.closed = False

    def put(self, func, delivery_id, **kwargs) -> None:
        with self.cond:
            self.tasks.append(delivery_id)
            self.cond.notify()

    def take(self) -> int | None:
        with self.cond:
            while self.taken >= len(self.tasks) and not self.closed:
                self.cond.wait(0.05)
            if self.taken >= len(self.tasks):
                return None
            self.taken += 1
            return self.tasks[self.taken - 1]

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


def workers_run(broker: Broker, workers: int, on_task=None) -> tuple[list, list]:
    """``workers`` threads running the tasks the broker hands out, as django-q2's workers do
    (``tasks.process_delivery`` by id), each with its own database connection."""
    errors = []

    def work():
        try:
            while (pk := broker.take()) is not None:
                tasks.process_delivery(pk)
                if on_task:
                    on_task()
        except Exception as exc:  # reported by the caller
            errors.append(exc)
            broker.close()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    return threads, errors


def process(broker: Broker, workers: int, hook_id: int) -> float:
    """Run the queued tasks (and the follow-ups they queue) until none is left."""
    broker.closed = False
    started = time.perf_counter()
    idle = threading.Event()

    def watch():  # the queue is done when every task is taken and nothing is queued any more
        while True:
            time.sleep(0.05)
            with broker.cond:
                drained = broker.taken >= len(broker.tasks)
            queued = Delivery.objects.filter(hook_id=hook_id, state=DeliveryState.QUEUED)
            if drained and not queued.exists():
                connections.close_all()
                broker.close()
                idle.set()
                return

    watcher = threading.Thread(target=watch)
    threads, errors = workers_run(broker, workers)
    watcher.start()
    for t in threads:
        t.join()
    broker.close()
    watcher.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def live(url: str, bodies: list[dict], rate: float, clients: int, broker: Broker) -> None:
    """Posting and processing at once: ``clients`` threads post at ``rate`` deliveries a second
    in all while one worker runs the tasks as they are queued. Prints the rate reached, the
    tasks queued, the deepest backlog and how long after the last post all was decided."""
    errors = []
    arrived: list[int] = []
    start = time.perf_counter() + 0.2
    deepest = 0

    def post(offset: int) -> None:
        client = Client()
        try:
            for n in range(offset, len(bodies), clients):
                delay = start + n / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                response = client.post(url, bodies[n], content_type="application/json")
                arrived.append(response.json()["delivery"])
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def backlog():
        nonlocal deepest
        if arrived:
            waiting = Delivery.objects.filter(state=DeliveryState.QUEUED, pk__gte=min(arrived))
            deepest = max(deepest, waiting.count())

    broker.closed = False
    first_task = len(broker.tasks)
    worker, worker_errors = workers_run(broker, 1, on_task=backlog)
    posters = [threading.Thread(target=post, args=(i,)) for i in range(clients)]
    for t in posters:
        t.start()
    for t in posters:
        t.join()
    posted = time.perf_counter()
    while Delivery.objects.filter(state=DeliveryState.QUEUED, pk__in=arrived).exists():
        time.sleep(0.02)
    finished = time.perf_counter()
    broker.close()
    for t in worker:
        t.join()
    if errors or worker_errors:
        raise (errors or worker_errors)[0]
    print(
        f"live: {len(arrived)} deliveries posted at {len(arrived) / (posted - start):.0f}/s "
        f"(target {rate:.0f}/s) while 1 worker processed them in "
        f"{len(broker.tasks) - first_task} tasks: deepest backlog {deepest}, all decided "
        f"{finished - posted:.2f} s after the last post"
    )


TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pids) -> float:
    """User + system CPU seconds of these processes so far (0 for those gone)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def _processes(parent: int = 0, group: int = 0) -> list[int]:
    """Children of ``parent`` or members of process group ``group``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if (parent and int(fields[1]) == parent) or (group and int(fields[2]) == group):
            out.append(int(stat.parent.name))
    return out


def _backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


def end_to_end(bodies: list[dict], rate: float, clients: int, port: int) -> None:
    """The real thing: gunicorn (4 workers, DEBUG off) takes the posts over HTTP at ``rate`` a
    second from ``clients`` keep-alive connections, a real ``qcluster`` (django-q2's ORM queue,
    2 workers) processes them. Prints the rate reached, the answer latency and how long after
    the last post every delivery was decided."""
    import http.client
    import json
    import signal
    import statistics
    import subprocess
    import tempfile

    from django_q.models import OrmQ

    hook = services.hook_create(actor=None, name=f"bench e2e {time.time():.0f}")
    OrmQ.objects.all().delete()  # this bench database's queue: tasks of earlier runs
    env = {**os.environ, "DEBUG": "False", "SECURE_SSL_REDIRECT": "False", "LOG_LEVEL": "WARNING"}
    env.pop("Q_SYNC", None)
    # the cluster also runs the portal's schedules: the audit checkpoints go to a directory of
    # the bench's own, not the working tree's var/ (another database's trail)
    scratch = Path(tempfile.mkdtemp(prefix="sejolisync-bench-"))
    env["AUDIT_CHECKPOINT_DIR"] = str(scratch / "audit-checkpoints")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
        check=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "opsportal.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "4", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    log = open(scratch / "qcluster.log", "w")  # noqa: SIM115 (the cluster's, while it runs)
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env={**env, "Q_WORKERS": "2"},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        latencies, ids, errors = [], [], []
        # warm up: every gunicorn worker and the cluster open their database connections
        for body in bodies[:8]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", hook.url, json.dumps(body), {"Content-Type": "application/json"})
            conn.getresponse().read()
        bodies = bodies[8:]
        time.sleep(3)
        groups = {
            "web": _processes(parent=server.pid),
            "worker": _processes(group=cluster.pid),
            "PostgreSQL": _backends(),
        }
        cpu_before = {name: _cpu(pids) for name, pids in groups.items()}
        start = time.perf_counter() + 0.5

        def post(offset: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                for n in range(offset, len(bodies), clients):
                    delay = start + n / rate - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    sent = time.perf_counter()
                    conn.request(
                        "POST", hook.url, json.dumps(bodies[n]),
                        {"Content-Type": "application/json"},
                    )  # fmt: skip
                    response = conn.getresponse()
                    answer = json.loads(response.read())
                    latencies.append((time.perf_counter() - sent) * 1000)
                    assert response.status == 202, answer
                    ids.append(answer["delivery"])
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=post, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        posted = time.perf_counter()
        if errors:
            raise errors[0]
        deadline = posted + 300
        while Delivery.objects.filter(pk__in=ids, state=DeliveryState.QUEUED).exists():
            if time.perf_counter() > deadline:
                break
            time.sleep(0.05)
        finished = time.perf_counter()
        cpu = {
            name: (_cpu(pids) - cpu_before[name]) / len(ids) * 1000 for name, pids in groups.items()
        }
        left = Delivery.objects.filter(pk__in=ids, state=DeliveryState.QUEUED).count()
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95)]
        print(
            f"end to end (gunicorn x4, qcluster x2): {len(ids)} deliveries posted at "
            f"{len(ids) / (posted - start):.0f}/s (target {rate:.0f}/s), answers P50 "
            f"{statistics.median(latencies):.0f} ms, P95 {p95:.0f} ms; all decided "
            f"{finished - posted:.2f} s after the last post ({left} left queued)"
        )
        print(
            "CPU per delivery: "
            + ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())
            + f" = {sum(cpu.values()):.1f} ms (what a delivery costs, whatever else runs)"
        )
    finally:
        server.terminate()
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=15)
        except subprocess.TimeoutExpired:  # a sentinel that will not stop: its whole group
            os.killpg(cluster.pid, signal.SIGKILL)
            cluster.wait(timeout=15)
        server.wait(timeout=30)
        log.close()
        print(f"(the cluster's log: {scratch / 'qcluster.log'})")
        services.hook_switch(actor=None, hook=hook.hook, enabled=False, reason="bench done")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--clients", type=int, default=4, help="threads posting deliveries")
    parser.add_argument(
        "--live", type=float, default=50.0, help="post and process at once at this rate (0: skip)"
    )
    parser.add_argument(
        "--end-to-end", type=float, default=0.0, metavar="RATE",
        help="also post over HTTP to gunicorn at this rate with a real qcluster processing",
    )  # fmt: skip
    parser.add_argument("--port", type=int, default=8791)
    args = parser.parse_args()
    if args.end_to_end:
        run = f"E{int(time.time()) % 10**6:06d}-"
        products()
        end_to_end(deliveries(run, args.orders), args.end_to_end, args.clients, args.port)
        if not args.live and not args.workers:
            return
    setup_test_environment()  # the test client's testserver host
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    products()
    broker = Broker()
    services.async_task = broker.put  # the enqueues the services make go to the bench's broker
    for workers in args.workers:
        run = f"B{int(time.time()) % 10**6:06d}w{workers}-"
        hook = services.hook_create(actor=None, name=f"bench {run}")
        bodies = deliveries(run, args.orders)
        seconds, ids = receive(hook.url, bodies, args.clients)
        print(
            f"received {len(ids)} deliveries with {args.clients} clients in {seconds:.2f} s: "
            f"{len(ids) / seconds:.0f} deliveries/s (request stack, token, raw log, enqueue)"
        )
        tasks_before = broker.taken
        seconds = process(broker, workers, hook.hook.pk)
        rate = len(ids) / seconds
        counts = {}
        for state in Delivery.objects.filter(pk__in=ids).values_list("state", flat=True):
            counts[state] = counts.get(state, 0) + 1
        failed = counts.get(DeliveryState.FAILED, 0) + counts.get(DeliveryState.INVALID, 0)
        verdict = "OK" if rate >= GOAL and not failed else "BELOW GOAL" if not failed else "FAILED"
        print(
            f"processed {len(ids)} deliveries of {args.orders} orders with {workers} worker(s) in "
            f"{seconds:.2f} s ({broker.taken - tasks_before} tasks): {rate:.0f} deliveries/s "
            f"({verdict}, goal {GOAL:.0f}/s) {counts}"
        )
        services.hook_switch(actor=None, hook=hook.hook, enabled=False, reason="bench done")
    if args.live:
        run = f"L{int(time.time()) % 10**6:06d}-"
        hook = services.hook_create(actor=None, name=f"bench {run}")
        live(hook.url, deliveries(run, args.orders), args.live, args.clients, broker)
        services.hook_switch(actor=None, hook=hook.hook, enabled=False, reason="bench done")


if __name__ == "__main__":
    main()
