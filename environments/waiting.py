"""'Waiting for me' (notifications): change requests to decide, rotations of variables I own."""

from datetime import timedelta

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from notifications.hooks import LIMIT, WaitingItem

from .models import ChangeRequest, ConfigVar

APPROVE = "environments.approve_changerequest"
# A rotation enters its owner's queue this long before it falls due.
ROTATION_NOTICE = timedelta(days=7)


def owned_by(user) -> Q:
    """Variables whose owner names this user: the username or the e-mail, any case."""
    names = {user.get_username()} | ({user.email} if user.email else set())
    q = Q(pk__in=[])
    for name in names:
        q |= Q(owner__iexact=name)
    return q


def rotations_due(user, now=None) -> list[ConfigVar]:
    now = now or timezone.now()
    candidates = (
        ConfigVar.objects.with_rotation()
        .filter(owned_by(user))
        .select_related("environment__project")
        .order_by("pk")[: LIMIT * 4]
    )
    due = [v for v in candidates if v.rotation_due_at() <= now + ROTATION_NOTICE]
    return sorted(due, key=lambda v: v.rotation_due_at())[:LIMIT]


def items(user) -> list[WaitingItem]:
    out = []
    if user.has_perm(APPROVE):
        requests = (
            ChangeRequest.objects.awaiting(user)
            .select_related("environment__project", "author")
            .order_by("created_at", "pk")[:LIMIT]
        )
        for cr in requests:
            out.append(
                WaitingItem(
                    kind="Change request",
                    title=f"#{cr.pk} on {cr.environment}: {cr.summary}",
                    url=cr.get_absolute_url(),
                    detail=f"asked by {cr.author}" + (f": {cr.reason}" if cr.reason else ""),
                    since=cr.created_at,
                )
            )
    now = timezone.now()
    for var in rotations_due(user, now):
        due = var.rotation_due_at()
        when = timezone.localtime(due).strftime("%Y-%m-%d")
        out.append(
            WaitingItem(
                kind="Rotation due",
                title=f"{var.environment} / {var.key}",
                url=reverse("environments:configvar_rotate", args=[var.pk]),
                detail=f"overdue since {when}" if due <= now else f"due on {when}",
                since=due,
            )
        )
    return out
