"""Notifications (``notifications/hooks.py``): second sign-offs needed, failures, run outcomes.

Handlers read the committed state; they write nothing of this app's.
"""

from notifications.hooks import IMMEDIATE, OFF, EventType, Notice, others, users_with_perm

from .choices import StepStatus
from .models import Run, StepRun
from .services import PERM_SECOND

EVENTS = [
    EventType(
        "runbook.second_needed",
        "Second sign-off needed",
        "an approver who may give the second sign-off",
        IMMEDIATE,
    ),
    EventType(
        "runbook.step_failed", "A step failed on a run you started", "the run's starter", IMMEDIATE
    ),
    EventType("runbook.run_completed", "Run completed", "the run's starter", OFF),
    EventType("runbook.run_aborted", "Run aborted", "the run's starter", OFF),
]


def _step_run(event) -> StepRun | None:
    return (
        StepRun.objects.select_related(
            "run__version__runbook",
            "run__environment__project",
            "run__started_by",
            "step",
            "signed_by",
        )
        .filter(pk=event.target_id or None)
        .first()
    )


def _url(sr: StepRun) -> str:
    return f"{sr.run.get_absolute_url()}#step-{sr.pk}"


def _facts(run: Run) -> dict:
    return {
        "Runbook": str(run.version),
        "Environment": str(run.environment),
        "Started by": str(run.started_by),
    }


def second_needed(event) -> list[Notice]:
    sr = _step_run(event)
    if sr is None or sr.status != StepStatus.AWAITING_SECOND or sr.second_signed_by_id:
        return []  # not waiting (any more): a signed-off step that needs no second person
    skip = bool(sr.skip_reason)
    approvers = users_with_perm(PERM_SECOND)
    if sr.signed_by_id:
        approvers = approvers.exclude(pk=sr.signed_by_id)
    what = f"asks to skip it: {sr.skip_reason}" if skip else "signed it off"
    return [
        Notice(
            event="runbook.second_needed",
            subject=f"Second sign-off needed: {sr.step.title} ({sr.run.environment})",
            lines=[
                f"{sr.signed_by or 'The system'} {what}",
                f"on {sr.run}.",
                f"Note: {sr.note}" if sr.note and not skip else None,
                "The run cannot complete until a second person signs; you may.",
            ],
            url=_url(sr),
            recipients=others(approvers, event),
            project_id=sr.run.environment.project_id,
            facts={**_facts(sr.run), "Step": sr.step.title},
        )
    ]


def signed_off(event) -> list[Notice]:
    if (event.changes or {}).get("status") != StepStatus.AWAITING_SECOND:
        return []
    return second_needed(event)


def step_failed(event) -> list[Notice]:
    sr = _step_run(event)
    if sr is None:
        return []
    by_check = event.action == "runbook.check.failed"
    what = "Check" if by_check else "Step"
    why = (event.changes or {}).get("summary", "") if by_check else sr.note
    return [
        Notice(
            event="runbook.step_failed",
            subject=f"{what} failed: {sr.step.title} ({sr.run.environment})",
            lines=[
                f"{sr.step.title} on {sr.run} failed"
                + ("" if by_check else f" (marked by {event.actor_label})")
                + ".",
                f"What failed: {why}" if why else None,
            ],
            url=_url(sr),
            recipients=others([sr.run.started_by], event),
            project_id=sr.run.environment.project_id,
            facts={**_facts(sr.run), "Step": sr.step.title},
        )
    ]


def _run_closed(event, key: str, verb: str) -> list[Notice]:
    run = (
        Run.objects.select_related("version__runbook", "environment__project", "started_by")
        .filter(pk=event.target_id or None)
        .first()
    )
    if run is None:
        return []
    return [
        Notice(
            event=key,
            subject=f"Run {verb}: {run}",
            lines=[
                f"{event.actor_label} {verb} the run of {run.version} on {run.environment}.",
                f"Reason: {run.abort_reason}" if run.abort_reason else None,
            ],
            url=run.get_absolute_url(),
            recipients=others([run.started_by], event),
            project_id=run.environment.project_id,
            facts=_facts(run),
        )
    ]


def run_completed(event) -> list[Notice]:
    return _run_closed(event, "runbook.run_completed", "completed")


def run_aborted(event) -> list[Notice]:
    return _run_closed(event, "runbook.run_aborted", "aborted")


HANDLERS = {
    "runbook.step.signed_off": signed_off,
    "runbook.step.skip_requested": second_needed,
    "runbook.check.passed": second_needed,
    "runbook.step.failed": step_failed,
    "runbook.check.failed": step_failed,
    "runbook.run.completed": run_completed,
    "runbook.run.aborted": run_aborted,
}
