"""What an app hands the notifications app: its events and its part of "waiting for me".

Two optional modules per app, found by name (``opsportal.apphooks``):

``<app>/notify.py``
    ``EVENTS``: the :class:`EventType` list the app emits (a key, a label, who gets it by e-mail
    and whether they do by default). ``HANDLERS``: ``{audit action pattern: handler}``; a handler
    gets one committed ``AuditEvent`` and returns the :class:`Notice` list it means (often none).
    Optionally ``scan(now)``, run daily: what time brought rather than an action (a rotation
    falling due), recorded as audit events (once each) that its handlers then tell like any
    other. Handlers read; they never write domain tables.

``<app>/waiting.py``
    ``items(user) -> list[WaitingItem]``: what waits for this user's action, each linking to the
    page where it is done, gone once it is done. A few bounded queries (``LIMIT`` rows each): the
    queue page and the navigation count run it on every visit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q

# Per-user e-mail modes (Preference.mode).
IMMEDIATE, DIGEST, OFF = "immediate", "digest", "off"

# Most entries one app lists in one category of the queue (the page says when there are more).
LIMIT = 50


@dataclass(frozen=True)
class EventType:
    key: str  # "changerequest.submitted": stable, stored with every notification and preference
    label: str  # "Change request submitted"
    audience: str  # who receives it by e-mail, in words: "approvers who may decide it"
    default: str = OFF  # e-mail mode for someone who never chose: IMMEDIATE, DIGEST or OFF


@dataclass
class Notice:
    """One thing to tell: rendered once, sent to each recipient's e-mail and each channel."""

    event: str  # an EventType key
    subject: str  # one line, no secrets (it is scrubbed again anyway)
    lines: list[str]  # the body, a line each; credentials in it are masked before it is stored
    url: str  # the portal path where it is seen or done ("/environments/change-requests/12/")
    recipients: Iterable = ()  # users who may get it by e-mail (their preferences decide)
    project_id: int | None = None  # the project whose channels hear of it (portal-wide ones do)
    key: str = ""  # sent once per key; default "<event>:<audit seq>"
    facts: dict = field(default_factory=dict)  # short name → value pairs chat messages list


@dataclass(frozen=True)
class WaitingItem:
    kind: str  # "Change request", "Second sign-off", "Review items", ...
    title: str  # what it is: "#12 on makalah.ai / prod: change STRIPE_SECRET_KEY"
    url: str  # where it is done
    detail: str = ""  # who asked, why, how overdue
    since: datetime | None = None  # waiting since (oldest first on the page)
    count: int | None = None  # a group standing for many items (the review queue)


def only_tiers(*tiers: str):
    """Mark a handler as caring only for events on environments of these tiers: other events
    are not even queued for it (most changes happen outside production)."""

    def mark(handler):
        handler.tiers = frozenset(tiers)
        return handler

    return mark


def cares(handler, event) -> bool:
    tiers = getattr(handler, "tiers", None)
    return tiers is None or event.tier in tiers


def users_with_perm(perm: str):
    """Active users holding ``perm`` through a group, directly, or as superusers."""
    app_label, codename = perm.split(".", 1)
    User = get_user_model()
    held = (
        Q(is_superuser=True)
        | Q(
            groups__permissions__codename=codename,
            groups__permissions__content_type__app_label=app_label,
        )
        | Q(
            user_permissions__codename=codename,
            user_permissions__content_type__app_label=app_label,
        )
    )
    ids = User.objects.filter(held, is_active=True).values("pk")
    return User.objects.filter(pk__in=ids).order_by("pk")


def by_system(event) -> bool:
    """The event was recorded by the system (a check, a job), perhaps on someone's behalf."""
    return (event.actor_label or "").startswith("system")


def others(users: Iterable, event) -> list:
    """``users`` without the person who did what ``event`` records (they know already)."""
    if event.actor_id is None or by_system(event):
        return list(users)
    return [u for u in users if u.pk != event.actor_id]
