"""Demo recurring runs: a three-environment team's maintenance schedule (daily, weekly, monthly,
quarterly) as runbooks of our own wording (operations/demo_plans/), scheduled on makalah.ai, and
the periods already due started — so the calendar, the dashboard and "waiting for me" show them.
"""

from datetime import time, timedelta
from pathlib import Path

from django.utils import timezone

from environments import services as env_services
from environments.choices import Tier
from environments.models import Environment, Project
from runbooks import services as rb_services
from runbooks.models import Runbook

from . import services
from .choices import Frequency, Weekday
from .models import RunSchedule

PLANS = Path(__file__).resolve().parent / "demo_plans"

# plan file → (environment name, schedule settings)
SCHEDULES = {
    "daily-health-check.md": (
        "prod",
        {"frequency": Frequency.DAILY, "at_time": time(8, 0), "grace_hours": 4},
    ),
    "weekly-backup-and-qa.md": (
        "prod",
        {
            "frequency": Frequency.WEEKLY,
            "weekday": Weekday.MONDAY,
            "at_time": time(10, 0),
            "grace_hours": 24,
        },
    ),
    "monthly-maintenance.md": (
        "prod",
        {
            "frequency": Frequency.MONTHLY,
            "day_of_month": 1,
            "at_time": time(9, 0),
            "grace_hours": 72,
        },
    ),
    "restore-drill.md": (
        "staging",
        {"frequency": Frequency.CRON, "cron": "30 13 15 * *", "grace_hours": 48},
    ),
    "quarterly-review.md": (
        "prod",
        {
            "frequency": Frequency.QUARTERLY,
            "day_of_month": 5,
            "at_time": time(10, 0),
            "grace_hours": 24 * 14,
        },
    ),
}


def _staging(project, actor) -> Environment:
    env = project.environments.filter(tier=Tier.STAGING).order_by("pk").first()
    if env is None:
        env = env_services.environment_create(
            actor=actor, project=project, name="staging", tier=Tier.STAGING, branch="staging"
        )
    return env


def load(*, users: dict, stdout) -> None:
    admin, operator = users["admin"], users["operator"]
    project = Project.objects.filter(slug="makalah-ai").first()
    prod = project.environments.filter(name="prod").first() if project else None
    if prod is None:
        stdout.write("  no makalah.ai prod environment: recurring runs skipped")
        return
    envs = {"prod": prod, "staging": _staging(project, admin)}
    # The schedules start a week ago: the tick below starts the periods already due.
    starts_at = (timezone.now() - timedelta(days=8)).replace(second=0, microsecond=0)
    for name, (env_name, settings) in SCHEDULES.items():
        runbook = Runbook.objects.filter(versions__source_name=name).first()
        if runbook is None:
            version = rb_services.runbook_import(
                actor=admin,
                text=(PLANS / name).read_text(encoding="utf-8"),
                source_name=name,
                project=project,
            )
            runbook = version.runbook
            stdout.write(f"  runbook {version}")
        if RunSchedule.objects.filter(runbook=runbook).exists():
            continue
        schedule = services.schedule_create(
            actor=admin,
            runbook=runbook,
            environment=envs[env_name],
            owner=operator,
            starts_at=starts_at,
            **settings,
        )
        stdout.write(f"  recurring run {schedule}")
    started = services.scheduled_runs_create_due(now=timezone.now())
    if started:
        stdout.write(f"  {len(started)} recurring run(s) due now")
