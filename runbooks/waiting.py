"""'Waiting for me' (notifications): second sign-offs to give, failures on runs I started."""

from django.db.models import Case, Q, When

from notifications.hooks import LIMIT, WaitingItem

from .choices import RunStatus, StepStatus
from .models import StepRun
from .services import PERM_SECOND, lacks_second

URGENT = (StepStatus.AWAITING_SECOND, StepStatus.FAILED)
RELATED = ("run__version__runbook", "run__environment__project", "step", "signed_by")
HEAVY = (
    "run__version__source",
    "run__version__rollback",
    "run__version__notes",
    "run__version__metadata",
    "step__body",
    "step__details",
)  # not step__commands: lacks_second() reads it under the "steps with commands" setting


def _url(sr: StepRun) -> str:
    return f"{sr.run.get_absolute_url()}#step-{sr.pk}"


def items(user) -> list[WaitingItem]:
    """One query: the steps waiting for this user's second sign-off and the failed steps of
    the runs they started (the dashboard's query budget counts every query)."""
    open_run = Q(run__status=RunStatus.IN_PROGRESS)
    can_second = user.has_perm(PERM_SECOND)
    # Awaiting a second person (the first signer cannot be it), or closed by one person before
    # the environment became protected (lacks_second decides those below).
    second = Q(
        run__environment__protected=True,
        status__in=[StepStatus.AWAITING_SECOND, StepStatus.DONE, StepStatus.SKIPPED],
        second_signed_by=None,
    ) & ~Q(signed_by=user)
    failed = Q(run__started_by=user, status=StepStatus.FAILED)
    wanted = (second | failed) if can_second else failed
    rows = (
        StepRun.objects.filter(open_run & wanted)
        .select_related(*RELATED)
        # only titles are shown: not the version's Markdown, rollback and notes (planning and
        # fetching them was most of this query's time)
        .defer(*HEAVY)
        # what surely waits first: the late candidates above are mostly steps needing no second
        .order_by(Case(When(status__in=URGENT, then=0), default=1), "signed_at", "pk")[: LIMIT * 4]
    )
    out, seconds, failures = [], 0, 0
    for sr in rows:
        if sr.status == StepStatus.FAILED:
            if sr.run.started_by_id != user.pk or failures >= LIMIT:
                continue
            failures += 1
            by_check = sr.check_status == "failed"
            summary = (sr.check_result or {}).get("summary", "") if by_check else sr.note
            out.append(
                WaitingItem(
                    kind="Check failed" if by_check else "Step failed",
                    title=f"{sr.step.title} — {sr.run}",
                    url=_url(sr),
                    detail=str(summary)[:200],
                    since=sr.check_ran_at if by_check else sr.signed_at,
                )
            )
            continue
        if not can_second or seconds >= LIMIT or sr.signed_by_id == user.pk:
            continue
        if sr.status != StepStatus.AWAITING_SECOND and not lacks_second(sr):
            continue
        seconds += 1
        skip = bool(sr.skip_reason) and sr.status != StepStatus.DONE
        who = sr.signed_by or "someone"
        out.append(
            WaitingItem(
                kind="Skip to confirm" if skip else "Second sign-off",
                title=f"{sr.step.title} — {sr.run}",
                url=_url(sr),
                detail=f"{who} asks to skip it: {sr.skip_reason}"
                if skip
                else f"first signed by {who}",
                since=sr.signed_at,
            )
        )
    return out
