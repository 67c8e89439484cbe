"""Runbook runs at scale for benchmarks and manual tests (`manage.py seed_scale --runs N`).

Runs are started through `run_start` (audited, step runs created as an operator would get
them); the history inside them — who signed which step, when, which runs completed or were
aborted — is synthetic and written in bulk, like the seeded audit trail.
"""

import random
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from environments.models import Environment
from opsportal.audit.services import record

from . import services
from .choices import RunStatus, StepStatus
from .demo import PLANS
from .models import Run, Runbook, RunbookVersion, StepRun

IN_PROGRESS_EVERY = 25  # one run in 25 is still open, as a busy team has a few
ABORTED_EVERY = 12
LARGE_PLAN_TITLE = "Member data migration rehearsal"
LARGE_PLAN_STEPS = 120  # the longest real plan the team runs has 80 steps
LARGE_EVERY = 10  # one run in ten is of the long plan


def large_plan(steps: int = LARGE_PLAN_STEPS) -> str:
    """A long migration rehearsal: phases of checks with commands, like a data migration."""
    areas = ("members", "orders", "memberships", "affiliates", "commissions", "cutover")
    lines = [f"# {LARGE_PLAN_TITLE}", "", "Rehearse the whole move on a copy of production.", ""]
    per_phase = -(-steps // len(areas))
    n = 0
    for area in areas:
        lines += [f"## Migrate {area}", ""]
        for i in range(per_phase):
            if n == steps:
                break
            n += 1
            lines.append(f"- [ ] {area.capitalize()} check {i + 1}: counts match the export")
            if i % 3 == 0:
                lines += ["  ```bash", f"  python manage.py import_sejoli {area}.csv", "  ```"]
        lines.append("")
    return "\n".join(lines)


def _versions(actor) -> tuple[list[RunbookVersion], RunbookVersion]:
    if not Runbook.objects.exists():
        for path in sorted(PLANS.glob("*.md")):
            services.runbook_import(
                actor=actor, text=path.read_text(encoding="utf-8"), source_name=path.name
            )
    large = Runbook.objects.filter(title=LARGE_PLAN_TITLE).first()
    if large is None:
        services.runbook_import(actor=actor, text=large_plan(), source_name="rehearsal.md")
    versions = [
        v for v in (r.latest_version() for r in Runbook.objects.all()) if v and v.phases.exists()
    ]
    large = next(v for v in versions if v.runbook.title == LARGE_PLAN_TITLE)
    return [v for v in versions if v != large], large


def seed_runs(count: int, *, actor, operators: list, stdout) -> list[Run]:
    """Start ``count`` runs spread over the last year; close most of them with sign-offs."""
    environments = list(Environment.objects.select_related("project"))
    versions, large = _versions(actor)
    if not environments or not versions:
        stdout.write("  runs: no environments or runbooks to run; load the demo data first")
        return []
    rng = random.Random(count)
    now = timezone.now()
    runs = []
    for i in range(count):
        # the latest run is a long one still in progress: the heaviest run page there is
        version = large if i % LARGE_EVERY == 0 or i == count - 1 else rng.choice(versions)
        project_id = version.runbook.project_id
        choices = [e for e in environments if not project_id or e.project_id == project_id]
        if not choices:
            continue
        start = now - timedelta(days=365) + timedelta(days=365 * i / count)
        run = services.run_start(
            actor=rng.choice(operators),
            version=version,
            environment=rng.choice(choices),
            planned_start=start,
            planned_end=start + timedelta(hours=2),
        )
        runs.append((run, start))
    with transaction.atomic():
        closed = _close(runs, rng=rng, operators=operators)
        record(
            actor=actor,
            action="runbook.runs.seeded",
            target_repr=f"{len(runs)} runs",
            changes={"runs": len(runs), "closed": closed},
            message="Synthetic run history for benchmarks (seed_scale).",
        )
    stdout.write(f"  runs: {len(runs)} started, {closed} closed with sign-offs")
    return [run for run, _ in runs]


def _close(runs: list, *, rng: random.Random, operators: list) -> int:
    closed = 0
    finished_runs = []
    for n, (run, start) in enumerate(runs):
        step_runs = list(run.step_runs.select_related("step"))
        open_run = n % IN_PROGRESS_EVERY == IN_PROGRESS_EVERY - 1 or n == len(runs) - 1
        aborted = not open_run and n % ABORTED_EVERY == ABORTED_EVERY - 1
        # an open run is half done; an aborted one stopped a third of the way
        upto = len(step_runs) // 2 if open_run else len(step_runs) // 3 if aborted else None
        at = start
        for k, sr in enumerate(step_runs):
            if upto is not None and k >= upto:
                break
            at += timedelta(minutes=rng.randint(1, 6))
            sr.status = StepStatus.DONE
            sr.signed_by = rng.choice(operators)
            sr.signed_at = at
            sr.note = "ok"
            if sr.step.requires_second_signoff:
                sr.second_signed_by = rng.choice([s for s in operators if s != sr.signed_by])
                sr.second_signed_at = at + timedelta(minutes=2)
        StepRun.objects.bulk_update(
            step_runs,
            ["status", "signed_by", "signed_at", "note", "second_signed_by", "second_signed_at"],
            batch_size=500,
        )
        if open_run:
            continue
        run.status = RunStatus.ABORTED if aborted else RunStatus.COMPLETED
        run.started_at = start
        run.finished_at = at + timedelta(minutes=5)
        run.finished_by = run.started_by
        run.abort_reason = "Window overran; rescheduled." if aborted else ""
        finished_runs.append(run)
        closed += 1
    Run.objects.bulk_update(
        finished_runs, ["status", "started_at", "finished_at", "finished_by", "abort_reason"]
    )
    return closed
