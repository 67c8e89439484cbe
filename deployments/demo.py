"""Demo data for ``make run``: six weeks of deployments of makalah.ai and ConvoAI, so the ledger,
the timeline and the DORA page have something to show.

Recorded through ``services.deployment_record`` as the sources would (Vercel's webhook for
makalah.ai's web app, Render's for ConvoAI's API, a GitHub Actions pipeline for ConvoAI's web),
with a few failed deployments fixed a little later and one rolled back. Deterministic: the same
history every time, dated back from today.
"""

import hashlib
import random
from datetime import timedelta

from django.utils import timezone

from environments.models import Environment

from . import services
from .choices import DeploymentStatus, Provider, Source
from .models import Deployment

DAYS = 42
SEED = 20261201

# (project slug, environment, provider, source, deployments per weekday, failure rate)
STREAMS = (
    ("makalah-ai", "prod", Provider.VERCEL, Source.VERCEL_WEBHOOK, 1.6, 0.12),
    ("makalah-ai", "dev", Provider.VERCEL, Source.VERCEL_WEBHOOK, 3.0, 0.2),
    ("convoai", "prod", Provider.RENDER, Source.RENDER_WEBHOOK, 0.9, 0.15),
    ("convoai", "prod", Provider.GITHUB_ACTIONS, Source.API, 0.6, 0.1),
)


def _sha(*parts) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:40]


def _url(provider, env, n) -> str:
    if provider == Provider.VERCEL:
        return f"https://{env.project.slug}-{_sha(env.pk, n)[:9]}.vercel.app"
    if provider == Provider.RENDER:
        return "https://convoai-api.onrender.com"
    return env.url or ""


def load(*, users: dict, stdout) -> None:
    if Deployment.objects.exists():
        return
    operator = users["operator"]
    rng = random.Random(SEED)
    now = timezone.now()
    start = now - timedelta(days=DAYS)
    count = 0
    for slug, name, provider, source, per_day, failure_rate in STREAMS:
        env = Environment.objects.filter(project__slug=slug, name=name).first()
        if env is None:
            continue
        actor = operator if source == Source.API else None  # webhooks record as the system
        moment = start
        n = 0
        while True:
            # Fewer deployments at weekends, none at night.
            gap_hours = rng.expovariate(per_day / 24) * (2.5 if moment.weekday() >= 5 else 1)
            moment += timedelta(hours=max(gap_hours, 0.5))
            if moment.hour < 7:
                moment = moment.replace(hour=7 + rng.randrange(3))
            if moment >= now - timedelta(minutes=30):
                break
            n += 1
            failed = rng.random() < failure_rate
            count += _deploy(actor, env, provider, source, n, moment, failed, rng)
            if failed:  # the fix follows within a few hours
                moment += timedelta(minutes=rng.randrange(40, 240))
                if moment < now:
                    n += 1
                    count += _deploy(actor, env, provider, source, n, moment, False, rng)
    _roll_back_one(operator)
    stdout.write(f"deployments: {count} demo deployments over {DAYS} days")


def _deploy(actor, env, provider, source, n, moment, failed, rng) -> int:
    external_id = f"demo-{provider}-{env.pk}-{n}"
    sha = _sha(env.pk, provider, n)
    commit_time = moment - timedelta(minutes=rng.randrange(15, 60 * 30))
    common = {
        "actor": actor,
        "environment": env,
        "sha": sha,
        "ref": env.branch or "main",
        "external_id": external_id,
        "provider": provider,
        "source": source,
        "url": _url(provider, env, n),
        "commit_time": commit_time,
    }
    services.deployment_record(status=DeploymentStatus.IN_PROGRESS, at=moment, **common)
    end = moment + timedelta(seconds=rng.randrange(70, 420))
    status = DeploymentStatus.FAILURE if failed else DeploymentStatus.SUCCESS
    services.deployment_record(status=status, at=end, **common)
    return 1


def _roll_back_one(operator) -> None:
    """A release that went out fine and was rolled back the next morning."""
    dep = (
        Deployment.objects.filter(
            environment__project__slug="makalah-ai",
            environment__name="prod",
            status=DeploymentStatus.SUCCESS,
            finished_at__lt=timezone.now() - timedelta(days=9),
        )
        .order_by("-finished_at")
        .first()
    )
    if dep is not None:
        services.deployment_mark_rolled_back(
            actor=operator,
            deployment=dep,
            reason="Checkout errors after the release; instant rollback to the previous one.",
        )
