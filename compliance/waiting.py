"""'Waiting for me': campaigns I own with variables still old; for admins, the open access
review's lines they may decide (never their own), or the next review once it is due.
Two bounded queries (one for non-admins)."""

from datetime import timedelta

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from notifications.hooks import LIMIT, WaitingItem

from . import reviews
from .choices import Decision
from .models import AccessReview, RotationCampaign


def _review_items(user) -> list[WaitingItem]:
    latest = (
        AccessReview.objects.order_by("-started_at", "-pk")
        .annotate(
            mine=Count(
                "lines",
                filter=Q(lines__decision=Decision.PENDING) & ~Q(lines__user_id=user.pk),
            )
        )
        .first()
    )
    if latest is not None and latest.is_open:
        if not latest.mine:
            return []
        return [
            WaitingItem(
                kind="Access review",
                title=str(latest),
                url=latest.get_absolute_url(),
                detail=f"{latest.mine} user(s) to keep or revoke",
                since=latest.started_at,
                count=latest.mine,
            )
        ]
    today = timezone.localdate()
    due = latest.period_end + timedelta(days=reviews.period_days()) if latest else today
    if due > today:
        return []
    return [
        WaitingItem(
            kind="Access review",
            title="Access review due",
            url=reverse("compliance:index"),
            detail=f"every {reviews.period_days()} days; the last covered up to "
            f"{latest.period_end:%Y-%m-%d}"
            if latest
            else "no access review yet",
        )
    ]


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
        out += _review_items(user)
    return out
