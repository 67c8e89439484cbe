"""Deployments: API recording throughput, and the ledger and DORA pages at 100,000 deployments.

    createdb -h 127.0.0.1 -U postgres opsportal_deploys_bench
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal_deploys_bench
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py load_demo
    .venv/bin/python bench/deployments_bench.py [--deployments 100000] [--seconds 20]

1. Adds ``--projects`` projects of four environments, fills the ledger up to ``--deployments``
   rows (``deployments.seed``, bulk) if it holds fewer, and makes a service account ``bench-ci``
   with a ``deployments:write`` token.
2. Starts gunicorn (``--gunicorn-workers``, DEBUG off) and runs ``--clients`` client threads
   (keep-alive connections) that POST /api/deployments for ``--seconds``, as CI does: a
   deployment is recorded in_progress, then the same external id again as success (two records
   each, the second an update). Prints records per second, the status codes and latency.
3. Measures the pages (``--requests`` each, ``--concurrency`` at a time, after a warm-up):
   ledgers, a deployment, the timeline and DORA over 30, 90 and 365 days. P50/P95/P99 and the
   SQL queries of one request.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.stdout.reconfigure(line_buffering=True)  # figures as they come, also into a file
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.urls import reverse  # noqa: E402
from pages_bench import load, pct, query_counts, session_cookie  # noqa: E402

from deployments.models import Deployment  # noqa: E402
from deployments.seed import seed_deployments  # noqa: E402
from environments.models import Environment  # noqa: E402
from opsportal.accounts.roles import ensure_roles  # noqa: E402


def environments_for(projects: int) -> None:
    """``projects`` bench projects with dev, preview, staging and prod (through the services)."""
    from environments import services
    from environments.models import Project

    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    for i in range(projects):
        slug = f"bench-{i:02d}"
        project = Project.objects.filter(slug=slug).first() or services.project_create(
            actor=admin, name=f"bench{i:02d}.example", slug=slug
        )
        for name in ("dev", "preview", "staging", "prod"):
            if not project.environments.filter(name=name).exists():
                services.environment_create(actor=admin, project=project, name=name)


def fill(target: int) -> None:
    have = Deployment.objects.count()
    if have >= target:
        return
    started = time.perf_counter()
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    seed_deployments(target - have, actor=admin, stdout=None)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE deployments_deployment")
    print(f"seeded {target - have:,} deployments in {time.perf_counter() - started:.1f} s")


def ci_token() -> str:
    from opsportal.api.services import token_create

    User = get_user_model()
    user = User.objects.filter(username="bench-ci").first()
    if user is None:
        from opsportal.accounts.roles import OPERATOR
        from opsportal.accounts.services import operator_create

        user = operator_create(
            actor=None,
            username="bench-ci",
            role=OPERATOR,
            password=os.urandom(16).hex(),
            validate=False,
        )
    _token, raw = token_create(
        actor=user, user=user, name="deployments bench", scopes=["deployments:write", "read"]
    )
    return raw


def post_load(port, token, environments, seconds, clients):
    """``clients`` threads posting deployments for ``seconds``; (codes, latencies, elapsed)."""
    codes: dict[int, int] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds
    errors: list[str] = []
    run = f"{int(time.time())}"

    def worker(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        i = 0
        try:
            while time.perf_counter() < stop:
                i += 1
                env = environments[(n + i) % len(environments)]
                sha = f"{n:02x}{i:038x}"[-40:]
                for status in ("in_progress", "success"):
                    body = json.dumps(
                        {
                            "environment": env,
                            "sha": sha,
                            "status": status,
                            "ref": "main",
                            "external_id": f"bench-{run}-{n}-{i}",
                            "provider": "github_actions",
                            "commit_time": "2026-11-30T08:00:00Z",
                        }
                    )
                    started = time.perf_counter()
                    conn.request("POST", "/api/deployments", body=body, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        codes[response.status] = codes.get(response.status, 0) + 1
                        latencies.append(elapsed)
        except Exception as exc:
            errors.append(repr(exc))
        finally:
            conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(errors[0])
    return codes, latencies, time.perf_counter() - started


TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return kids


def _backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [row[0] for row in cursor.fetchall()]


class CpuMeter:
    """CPU spent by gunicorn's workers, this database's PostgreSQL backends and this process:
    what a record costs whatever else the machine is doing at the time."""

    def __init__(self, server_pid: int):
        self.web = _children(server_pid)
        self.db = _backends()
        self.start = self._now()

    def _now(self):
        return (
            sum(_cpu_seconds(p) for p in self.web),
            sum(_cpu_seconds(p) for p in self.db),
            time.process_time(),
        )

    def spent(self):
        return tuple(b - a for a, b in zip(self.start, self._now(), strict=True))


def pages() -> list[tuple[str, str]]:
    dora = reverse("deployments:dora")
    prod = Environment.objects.filter(tier="production").order_by("pk").first()
    busiest = (
        Deployment.objects.filter(environment=prod).order_by("-pk").values_list("pk", flat=True)
    ).first()
    result = [
        ("ledger", reverse("deployments:ledger")),
        ("ledger, page 50", None),
        ("ledger of prod", reverse("deployments:environment_ledger", args=[prod.pk])),
        ("ledger failures", reverse("deployments:ledger") + "?status=failure"),
        ("deployment", reverse("deployments:deployment_detail", args=[busiest])),
        ("timeline of prod", reverse("deployments:timeline", args=[prod.pk])),
        ("DORA prod 30 days", f"{dora}?{urlencode({'environment': prod.pk})}"),
        ("DORA all prod 30 days", dora),
        ("DORA all prod 90 days", f"{dora}?days=90"),
        ("DORA all prod 365 days", f"{dora}?days=365"),
        ("DORA project 90 days", f"{dora}?{urlencode({'project': prod.project.slug, 'days': 90})}"),
        # Pages measured by bench/pages_bench.py on a quiet machine (README): how busy is this one?
        ("reference: audit log", reverse("audit:event_list")),
        ("reference: projects", reverse("environments:project_list")),
    ]
    deep = Deployment.objects.order_by("-pk").values_list("pk", flat=True)[50 * 50]
    result[1] = ("ledger, page 50", reverse("deployments:ledger") + f"?before={deep}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=10, help="bench projects of 4 envs")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=200, help="requests per page")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--skip-posts", action="store_true")
    parser.add_argument("--skip-pages", action="store_true")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database (see the docstring).")
    ensure_roles()
    environments_for(args.projects)
    environments = list(Environment.objects.select_related("project").order_by("pk"))
    if not environments:
        sys.exit("No environments: run `manage.py load_demo` first.")
    paths = [f"{e.project.slug}/{e.name}" for e in environments]
    fill(args.deployments)
    admin = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    env = {**os.environ, "DEBUG": "False", "SECURE_SSL_REDIRECT": "False", "LOG_LEVEL": "WARNING"}
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
            f"{Deployment.objects.count():,} deployments in {len(environments)} environments; "
            f"gunicorn x{args.gunicorn_workers}"
        )
        if not args.skip_posts:
            token = ci_token()
            post_load(args.port, token, paths, 2, args.clients)  # warm up
            meter = CpuMeter(server.pid)
            codes, latencies, elapsed = post_load(
                args.port, token, paths, args.seconds, args.clients
            )
            web, db, client = meter.spent()
            total = sum(codes.values())
            print(
                f"POST /api/deployments, {args.clients} clients, {elapsed:.1f} s: {total:,} "
                f"records, {total / elapsed:,.0f}/s; status {dict(sorted(codes.items()))}; "
                f"P50 {statistics.median(latencies):.1f} ms, P95 {pct(latencies, 95):.1f} ms, "
                f"P99 {pct(latencies, 99):.1f} ms (target 200/s)"
            )
            per = (web + db + client) / total * 1000
            print(
                f"CPU per record: web {web / total * 1000:.1f} ms, PostgreSQL "
                f"{db / total * 1000:.1f} ms, clients {client / total * 1000:.1f} ms = "
                f"{per:.1f} ms: two idle cores would take {2000 / per:,.0f} records/s; "
                f"load average {os.getloadavg()[0]:.1f}"
            )
        if not args.skip_pages:
            measured = pages()
            counts = query_counts(admin, measured)
            cookie = session_cookie(admin)
            print(f"{'page':26} {'P50':>8} {'P95':>8} {'P99':>8} {'queries':>8}")
            misses = []
            for label, url in measured:
                load(args.port, cookie, url, min(20, args.requests), args.concurrency)
                timings = load(args.port, cookie, url, args.requests, args.concurrency)
                p95 = pct(timings, 95)
                print(
                    f"{label:26} {pct(timings, 50):7.1f}ms {p95:7.1f}ms "
                    f"{pct(timings, 99):7.1f}ms {counts[label]:8d}"
                )
                if p95 >= 100 and not label.startswith("reference"):
                    misses.append(label)
            print(
                "P95 < 100 ms: "
                + (f"missed by {', '.join(misses)}" if misses else f"all {len(measured) - 2} met")
            )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
