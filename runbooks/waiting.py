"""'Waiting for me' (notifications): second sign-offs to give, failures on runs I started."""

from django.db.models import Q

from notifications.hooks import LIMIT, WaitingItem

from .choices import RunStatus, StepStatus
from .models import StepRun
from .services import PERM_SECOND, lacks_second

RELATED = ("run__version__runbook", "run__environment__project", "step", "signed_by")


def _url(sr: StepRun) -> str:
    return f"{sr.run.get_absolute_url()}#step-{sr.pk}"


def items(user) -> list[WaitingItem]:
    out = []
    open_runs = Q(run__status=RunStatus.IN_PROGRESS)
    if user.has_perm(PERM_SECOND):
        # The two-person rule holds these open; the first signer cannot be the second.
        waiting = (
            StepRun.objects.filter(
                open_runs, run__environment__protected=True, status=StepStatus.AWAITING_SECOND
            )
            .exclude(signed_by=user)
            .select_related(*RELATED)
            .order_by("signed_at", "pk")[:LIMIT]
        )
        # Closed by one person before the environment became protected: a second may sign.
        late = (
            StepRun.objects.filter(
                open_runs,
                run__environment__protected=True,
                status__in=[StepStatus.DONE, StepStatus.SKIPPED],
                second_signed_by=None,
            )
            .exclude(signed_by=user)
            .select_related(*RELATED)
            .order_by("signed_at", "pk")[: LIMIT * 4]
        )
        for sr in [*waiting, *(s for s in late if lacks_second(s))][:LIMIT]:
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
    failed = (
        StepRun.objects.filter(open_runs, run__started_by=user, status=StepStatus.FAILED)
        .select_related(*RELATED)
        .order_by("signed_at", "pk")[:LIMIT]
    )
    for sr in failed:
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
    return out
