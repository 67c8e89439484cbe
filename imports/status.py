"""The imports' part of `manage.py portal_status`: jobs in flight with their batch, and sample
verifications whose draw never finished."""

from datetime import timedelta

from django.conf import settings

from .choices import ACTIVE_STATUSES, VerificationStatus
from .models import ImportJob, SampleVerification


def sections(now) -> tuple[dict, list[str]]:
    running = [
        {"job": j.pk, "kind": j.kind, "percent": j.percent, "checkpoint": j.checkpoint}
        for j in ImportJob.objects.filter(status__in=ACTIVE_STATUSES).order_by("pk")
    ]
    # A draw takes seconds to a few minutes on the imports worker; one still "drawing" long after
    # it started lost its task (a worker killed, a queue purged) and waits for nobody.
    limit = timedelta(minutes=settings.IMPORTS_SAMPLE_DRAW_STUCK_MINUTES)
    stuck = list(
        SampleVerification.objects.filter(
            status=VerificationStatus.DRAWING, started_at__lt=now - limit
        )
        .order_by("pk")
        .values_list("pk", "started_at")[:20]
    )
    problems = [
        f"sample verification #{pk} has been drawing since {started:%Y-%m-%d %H:%M} "
        f"(over {settings.IMPORTS_SAMPLE_DRAW_STUCK_MINUTES} min): its task was lost — "
        "queue the draw again on its page"
        for pk, started in stuck
    ]
    return {"imports_in_flight": running, "sample_draws_stuck": [pk for pk, _ in stuck]}, problems
