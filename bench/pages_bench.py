"""Page latency under concurrent load, with gunicorn serving and PostgreSQL behind it.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal_bench \
        .venv/bin/python bench/pages_bench.py --requests 200 --concurrency 4

Fill the database first (`manage.py seed_scale ...`). This process logs a user in, starts
gunicorn on 127.0.0.1, then fires a bounded number of requests per page from a pool of threads
(keep-alive connections) and prints P50/P95/P99 per page, plus the SQL query count of one
request per page measured in-process.
"""

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from imports.models import Member, Order  # noqa: E402
from opsportal.audit.models import AuditEvent  # noqa: E402
from opsportal.hotpages import QUERY_BUDGET, hot_pages  # noqa: E402
from runbooks.models import Run  # noqa: E402


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def query_counts(user, pages) -> dict[str, int]:
    client = Client()
    client.force_login(user)
    # A session's first request also reads the user's time zone and refreshes its expiry (once
    # per session and once a minute): warmed first, so each page's own count is measured.
    client.get(pages[0][1])
    counts = {}
    for label, url in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        counts[label] = len(queries)
    return counts


def load(port: int, cookie: str, url: str, requests: int, concurrency: int) -> list[float]:
    timings: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = [requests]

    def worker():
        try:
            _work()
        except Exception as exc:  # surfaced after join
            errors.append(repr(exc))

    def _work():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            conn.request("GET", url, headers={"Cookie": cookie, "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise RuntimeError(f"answered {response.status} {response.getheader('Location')}")
            with lock:
                timings.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"{url}: {errors[0]}")
    return timings


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--gunicorn-workers", type=int, default=3)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--only", action="append", help="measure only this page (repeatable)")
    parser.add_argument("--target-p95", type=float, default=100.0, help="milliseconds")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database filled with seed_scale.")

    user = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        sys.exit("No admin user: run `manage.py create_operator --role admin` first.")
    pages = [(label, url) for label, url in hot_pages() if not args.only or label in args.only]
    counts = query_counts(user, pages)
    cookie = session_cookie(user)
    env = {**os.environ, "DEBUG": "False", "SECURE_SSL_REDIRECT": "False"}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
        check=True,
    )  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "opsportal.wsgi", "--bind",
         f"127.0.0.1:{args.port}", "--workers", str(args.gunicorn_workers),
         "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", args.port, timeout=1).request("GET", "/")
                break
            except OSError:
                time.sleep(0.1)
        print(
            f"{AuditEvent.objects.count():,} audit events, {Member.objects.count():,} members, "
            f"{Order.objects.count():,} orders, {Run.objects.count():,} runs; "
            f"{args.requests} requests per page, {args.concurrency} concurrent, "
            f"gunicorn x{args.gunicorn_workers}"
        )
        print(f"{'page':24} {'P50':>8} {'P95':>8} {'P99':>8} {'queries':>8}")
        misses = []
        for label, url in pages:
            load(args.port, cookie, url, min(20, args.requests), args.concurrency)  # warm up
            timings = load(args.port, cookie, url, args.requests, args.concurrency)
            p95 = pct(timings, 95)
            print(
                f"{label:24} {pct(timings, 50):7.1f}ms {p95:7.1f}ms "
                f"{pct(timings, 99):7.1f}ms {counts[label]:8d}"
            )
            if p95 >= args.target_p95 or counts[label] > QUERY_BUDGET:
                misses.append(label)
        print(
            f"targets (P95 < {args.target_p95:g} ms, <= {QUERY_BUDGET} queries): "
            + (f"missed by {', '.join(misses)}" if misses else f"all {len(pages)} pages met")
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
