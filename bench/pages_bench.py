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

from opsportal.audit.models import AuditEvent  # noqa: E402


def discover_pages(user) -> list[tuple[str, str]]:
    """The pages people live in, with real ids from the database."""
    pages = [("dashboard", "/"), ("audit log", "/audit/")]
    op = AuditEvent.objects.exclude(actor=None).values_list("actor__username", flat=True).first()
    if op:
        pages.append(("audit by operator", f"/audit/?operator={op}"))
    pages.append(("audit production tier", "/audit/?tier=production"))
    first = AuditEvent.objects.order_by("seq").values_list("at", "seq").first()
    if first:
        day = first[0].date()
        pages.append(
            ("audit date range", f"/audit/?date_from={day.isoformat()}&date_to={day.isoformat()}")
        )
        pages.append(("audit deep page", f"/audit/?before={first[1] + 1000}"))
    for label, finder in EXTRA_PAGES:
        url = finder()
        if url:
            pages.append((label, url))
    return pages


def _matrix_url():
    try:
        from environments.models import Project
    except ImportError:
        return None
    project = Project.objects.order_by("pk").first()
    if project is None:
        return None
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("environments:project_matrix", kwargs={"slug": project.slug})
    except NoReverseMatch:
        return project.get_absolute_url()


def _first_url(model_path: str):
    from django.apps import apps

    try:
        model = apps.get_model(model_path)
    except LookupError:
        return None
    obj = model.objects.order_by("-pk").first()
    return obj.get_absolute_url() if obj else None


EXTRA_PAGES = [
    ("environment matrix", _matrix_url),
    ("runbook run", lambda: _first_url("runbooks.Run")),
    ("import job", lambda: _first_url("imports.ImportJob")),
]


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
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database filled with seed_scale.")

    user = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        sys.exit("No admin user: run `manage.py create_operator --role admin` first.")
    pages = discover_pages(user)
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
        events = AuditEvent.objects.count()
        print(
            f"{events:,} audit events; {args.requests} requests per page, "
            f"{args.concurrency} concurrent, gunicorn x{args.gunicorn_workers}"
        )
        print(f"{'page':24} {'P50':>8} {'P95':>8} {'P99':>8} {'queries':>8}")
        for label, url in pages:
            load(args.port, cookie, url, min(20, args.requests), args.concurrency)  # warm up
            timings = load(args.port, cookie, url, args.requests, args.concurrency)
            print(
                f"{label:24} {pct(timings, 50):7.1f}ms {pct(timings, 95):7.1f}ms "
                f"{pct(timings, 99):7.1f}ms {counts[label]:8d}"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
