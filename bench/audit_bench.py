"""Audit trail at scale: chain verification and streamed export over N events.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal_bench \
        .venv/bin/python bench/audit_bench.py --events 1000000

Fills the database with `seed_scale` when it holds fewer events, then measures in child
processes (so each peak RSS is its own): `manage.py audit_verify` (wall time and the CPU time of
its processes, which a shared machine disturbs less), and the CSV and JSON exports streamed
through the real view and consumed chunk by chunk. ``--redact N`` first redacts a field of N
events spread over the chain (through ``audit_event_redact``), so verification also walks
redacted rows.
"""

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

EXPORT_SNIPPET = """
import os, sys, time, resource, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
User = get_user_model()
user = User.objects.filter(is_superuser=True).first() or User.objects.first()
client = Client()
client.force_login(user)
started = time.perf_counter()
response = client.get("/audit/export." + sys.argv[1])
size = lines = 0
for chunk in response.streaming_content:
    size += len(chunk)
    lines += chunk.count(b"\\n")
seconds = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{seconds:.2f} {size} {lines} {rss:.0f}")
"""


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOG_LEVEL": "WARNING"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)


REDACT_SNIPPET = """
import os, sys, random, time, django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
django.setup()
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import audit_event_redact, redactable_fields
count = int(sys.argv[1])
head = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
rng = random.Random(11)
started = time.perf_counter()
done = 0
for seq in sorted(rng.sample(range(1, head + 1), count)):
    event = AuditEvent.objects.get(seq=seq)
    fields = redactable_fields(event)
    if fields:
        audit_event_redact(actor=None, event=event, field=rng.choice(fields), reason="benchmark")
        done += 1
print(f"{done} {time.perf_counter() - started:.2f}")
"""


def child_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def child_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--redact", type=int, default=0, help="Redact a field of N events first.")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (the benchmark targets production).")

    run([PY, "manage.py", "migrate", "--noinput"], check=True)
    count = run(
        [
            PY,
            "-c",
            "import django,os;os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
            "'opsportal.settings');django.setup();from opsportal.audit.models import AuditEvent;"
            "print(AuditEvent.objects.count())",
        ],
        check=True,
    )
    existing = int(count.stdout.strip().splitlines()[-1])
    if existing < args.events:
        started = time.perf_counter()
        run(
            [PY, "manage.py", "seed_scale", "--audit-events", str(args.events - existing)],
            check=True,
        )
        print(f"seeded {args.events - existing} events in {time.perf_counter() - started:.1f} s")

    if args.redact:
        result = run([PY, "-c", REDACT_SNIPPET, str(args.redact)], check=True)
        done, seconds = result.stdout.split()[-2:]
        print(f"redacted a field of {done} events in {float(seconds):.1f} s")

    cpu = child_cpu_s()
    started = time.perf_counter()
    verify = run([PY, "manage.py", "audit_verify"])
    seconds = time.perf_counter() - started
    print(
        f"audit_verify: {seconds:.2f} s (CPU {child_cpu_s() - cpu:.1f} s), exit "
        f"{verify.returncode}, peak RSS {child_peak_mb():.0f} MB  "
        f"({verify.stdout.strip() or verify.stderr.strip()})"
    )

    for fmt in ("csv", "json"):
        result = run([PY, "-c", EXPORT_SNIPPET, fmt], check=True)
        seconds, size, lines, rss = result.stdout.split()[-4:]
        print(
            f"export {fmt}: {float(seconds):.2f} s, {int(size) / 1e6:.0f} MB streamed, "
            f"{int(lines):,} lines, peak RSS {rss} MB"
        )


if __name__ == "__main__":
    main()
