"""Deployments at scale for benchmarks (``manage.py seed_scale --deployments N``).

A year of history spread over every environment, written in bulk like the seeded audit trail
(one ``deployment.history.seeded`` audit event says so): production gets a deployment every few
hours, other tiers more. Not for real data: real deployments enter through the services.
"""

import hashlib
import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from environments.models import Environment
from opsportal.audit.services import record

from .choices import DeploymentStatus, Provider, Source
from .models import Deployment

BATCH = 5000
DAYS = 365
# status, weight
STATUSES = (
    (DeploymentStatus.SUCCESS, 86),
    (DeploymentStatus.FAILURE, 8),
    (DeploymentStatus.ROLLED_BACK, 3),
    (DeploymentStatus.CANCELLED, 3),
)
PROVIDERS = (Provider.VERCEL, Provider.RENDER, Provider.GITHUB_ACTIONS)


def seed_deployments(
    count: int, *, actor=None, operators=(), stdout=None, days: int = DAYS, seed: int = 15
) -> int:
    """Add ``count`` finished deployments over the last ``days``, oldest first; returns count."""
    envs = list(Environment.objects.order_by("pk"))
    if not envs:
        raise ValueError("no environments to deploy to: load the demo data first")
    rng = random.Random(seed)
    statuses = [s for s, w in STATUSES for _ in range(w)]
    now = timezone.now()
    span = timedelta(days=days).total_seconds()
    start = now - timedelta(days=days)
    offset = Deployment.objects.count()
    written = 0
    while written < count:
        n = min(BATCH, count - written)
        rows = []
        for i in range(written, written + n):
            env = envs[rng.randrange(len(envs))]
            finished = start + timedelta(seconds=span * (i + rng.random()) / count)
            started = finished - timedelta(seconds=rng.randrange(60, 900))
            status = statuses[rng.randrange(len(statuses))]
            commit = (
                started - timedelta(minutes=rng.randrange(5, 3 * 24 * 60))
                if rng.random() < 0.8
                else None
            )
            key = offset + i
            rows.append(
                Deployment(
                    environment=env,
                    provider=PROVIDERS[key % len(PROVIDERS)],
                    external_id=f"seed-{key}",
                    sha=hashlib.sha1(str(key).encode(), usedforsecurity=False).hexdigest(),
                    ref="main",
                    status=status,
                    started_at=started,
                    finished_at=finished,
                    commit_time=commit,
                    recorded_at=finished,
                    source=Source.API,
                    triggered_by=operators[key % len(operators)] if operators else None,
                )
            )
        with transaction.atomic():
            Deployment.objects.bulk_create(rows, batch_size=1000)
        written += n
        if stdout is not None:
            stdout.write(f"  deployments: {written}")
    with transaction.atomic():
        record(
            actor=actor,
            action="deployment.history.seeded",
            target_type="deployments.deployment",
            target_repr=f"{count} seeded deployments",
            changes={"count": count, "days": days},
            message="Synthetic history for benchmarks (manage.py seed_scale).",
        )
    return count
