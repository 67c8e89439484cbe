"""'Waiting for me': campaigns I own with variables still old, and access review lines an admin
may decide (never their own), and a completed-able review."""

from django.db.models import Q

from notifications.hooks import LIMIT, WaitingItem

from .choices import Decision
from .models import AccessReviewLine, RotationCampaign


def items(user) -> list[WaitingItem]:
    out = []
    campaigns = (
        RotationCampaign.objects.open()
        .filter(owner=user)
        .with_progress()
        .filter(old__gt=0)
        .order_by("due_date")[:LIMIT]
    )
    for c in campaigns:
        out.append(
            WaitingItem(
                kind="Rotation campaign",
                title=c.title,
                url=c.get_absolute_url(),
                detail=f"{c.old} of {c.total} variables still old · due {c.due_date:%Y-%m-%d}",
                since=c.started_at,
            )
        )
    if user.has_perm("auth.change_user"):
        lines = (
            AccessReviewLine.objects.filter(Q(review__status="open"), decision=Decision.PENDING)
            .exclude(user_id=user.pk)
            .select_related("review")
            .order_by("review_id", "username")[:LIMIT]
        )
        pending = list(lines)
        if pending:
            review = pending[0].review
            out.append(
                WaitingItem(
                    kind="Access review",
                    title=str(review),
                    url=review.get_absolute_url(),
                    detail=f"{len(pending)} user(s) to keep or revoke",
                    since=review.started_at,
                    count=len(pending),
                )
            )
    return out
