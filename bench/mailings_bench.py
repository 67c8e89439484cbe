"""Welcome e-mails: a campaign of 10,000 members sent to Django's locmem backend (goal < 30 s).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal_bench
    .venv/bin/python manage.py migrate
    .venv/bin/python bench/mailings_bench.py [--members 10000] [--batch-size 500] [--repeat 2]

Creates ``--members`` members under a bench import job (once), then for each repeat: creates a
campaign (no rate limit), starts it (fixes the recipient list) and runs the sender as the imports
worker does (``campaign_send``), in this process. Prints the time of each phase, messages per
second and checks every member got exactly one message.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.stdout.reconfigure(line_buffering=True)
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core import mail  # noqa: E402
from django.db import connection  # noqa: E402

from imports.choices import JobKind, JobStatus  # noqa: E402
from imports.models import ImportJob, Member  # noqa: E402
from mailings import services  # noqa: E402
from opsportal.accounts.roles import ensure_roles  # noqa: E402

BENCH_SHA = "b" * 64


def bench_job(members: int) -> ImportJob:
    """A stand-in for a users import whose members the campaign welcomes (created once)."""
    job, _ = ImportJob.objects.get_or_create(
        sha256=BENCH_SHA, kind=JobKind.USERS,
        defaults={"status": JobStatus.COMPLETED, "file": "bench/users.csv",
                  "original_name": "mailings-bench-users.csv"},
    )  # fmt: skip
    have = Member.objects.filter(job=job).count()
    if have < members:
        Member.objects.bulk_create(
            [
                Member(email=f"bench-mail-{i}@example.invalid", name=f"Bench Member {i}", job=job)
                for i in range(have, members)
            ],
            batch_size=5000,
        )
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ensure_roles()
    actor = get_user_model().objects.filter(is_superuser=True).order_by("pk").first()
    job = bench_job(args.members)
    print(f"database: {connection.vendor}; members: {args.members}; batch {args.batch_size}")
    for run in range(1, args.repeat + 1):
        mail.outbox = []
        campaign = services.campaign_create(
            actor=actor, name=f"bench {run}", subject_template="Welcome, {{ first_name }}",
            body_template="Hello {{ name }},\nyour account ({{ email }}) has moved.\n",
            job=job, rate=0, batch_size=args.batch_size,
        )  # fmt: skip
        t0 = time.perf_counter()
        campaign = services.campaign_start(actor=actor, campaign=campaign, enqueue=False)
        t1 = time.perf_counter()
        campaign = services.campaign_send(campaign_id=campaign.pk)
        t2 = time.perf_counter()
        sent = len(mail.outbox)
        distinct = len({m.to[0] for m in mail.outbox})
        ok = sent == distinct == campaign.sent_count == args.members
        print(
            f"run {run}: start (recipient list) {t1 - t0:.2f} s; send {t2 - t1:.2f} s; "
            f"total {t2 - t0:.2f} s; {sent / (t2 - t1):,.0f} messages/s; "
            f"status {campaign.status}; {sent} sent, {distinct} distinct "
            f"{'OK' if ok else 'MISMATCH'}; goal < 30 s: {'met' if t2 - t0 < 30 else 'MISSED'}"
        )


if __name__ == "__main__":
    main()
