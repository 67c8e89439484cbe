"""Entries on the operations calendar (``operations/hooks.py``): rotation campaigns on their due
date (with their progress) and access reviews (a completed one on its completion day, an open
one on its period's end, and the next one due a period after the last)."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.urls import reverse
from django.utils import timezone

from operations.choices import PeriodStatus
from operations.hooks import CalendarEntry

from . import reviews
from .models import AccessReview, RotationCampaign

LIMIT = 200


def _at(day) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=timezone.get_current_timezone())


def _campaigns(start, end, today) -> list[CalendarEntry]:
    out = []
    campaigns = (
        RotationCampaign.objects.filter(
            due_date__gte=timezone.localdate(start), due_date__lt=timezone.localdate(end)
        )
        .with_progress()
        .order_by("due_date", "pk")[:LIMIT]
    )
    for c in campaigns:
        if c.old == 0 or not c.is_open:
            status = PeriodStatus.DONE if c.old == 0 else PeriodStatus.ABORTED
        elif c.due_date < today:
            status = PeriodStatus.OVERDUE
        elif c.due_date == today:
            status = PeriodStatus.DUE
        else:
            status = PeriodStatus.PLANNED
        out.append(
            CalendarEntry(
                when=_at(c.due_date),
                title=c.title,
                url=c.get_absolute_url(),
                kind="Rotation campaign",
                status=status,
                detail=f"{c.done} of {c.total} done",
                all_day=True,
            )
        )
    return out


def _reviews(start, end, today) -> list[CalendarEntry]:
    out = []
    for review in AccessReview.objects.filter(
        completed_at__gte=start, completed_at__lt=end
    ).order_by("completed_at")[:LIMIT]:
        out.append(
            CalendarEntry(
                when=review.completed_at,
                title=str(review),
                url=review.get_absolute_url(),
                kind="Access review",
                status=PeriodStatus.DONE,
                detail=f"signed by {review.completed_by}",
            )
        )
    open_review = AccessReview.objects.open().first()
    if open_review is not None:
        when = _at(open_review.period_end)
        if start <= when < end:
            out.append(
                CalendarEntry(
                    when=when,
                    title=str(open_review),
                    url=open_review.get_absolute_url(),
                    kind="Access review",
                    status=PeriodStatus.DUE
                    if open_review.period_end >= today
                    else PeriodStatus.OVERDUE,
                    detail="open: keep or revoke each user",
                    all_day=True,
                )
            )
        return out
    last = AccessReview.objects.filter(completed_at__isnull=False).order_by("-period_end").first()
    due = (last.period_end + timedelta(days=reviews.period_days())) if last else today
    when = _at(due)
    if start <= when < end:
        out.append(
            CalendarEntry(
                when=when,
                title="Access review due",
                url=reverse("compliance:index"),
                kind="Access review",
                status=PeriodStatus.OVERDUE
                if due < today
                else (PeriodStatus.DUE if due == today else PeriodStatus.PLANNED),
                detail=f"every {reviews.period_days()} days",
                all_day=True,
            )
        )
    return out


def entries(user, start: datetime, end: datetime) -> list[CalendarEntry]:
    today = timezone.localdate()
    out = []
    if user.has_perm("environments.view_configvar"):
        out += _campaigns(start, end, today)
    if user.has_perm("auth.change_user"):
        out += _reviews(start, end, today)
    return out
