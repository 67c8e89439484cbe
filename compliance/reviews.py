"""What an access review shows of each user: role, last login, production activity.

Production activity is the audit trail's events by the user on production-tier environments
(``AuditEvent.tier == "production"``) during the period, counted by action area (the first
part of the dotted action: ``configvar``, ``changerequest``, ``runbook``, ``env``...). The page
links each line to the audit log filtered the same way.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from environments.choices import Tier
from opsportal.audit.models import AuditEvent

DEFAULT_PERIOD_DAYS = 91  # a quarter


def period_days() -> int:
    return int(getattr(settings, "ACCESS_REVIEW_PERIOD_DAYS", DEFAULT_PERIOD_DAYS))


def default_period(today: date | None = None) -> tuple[date, date]:
    end = today or timezone.localdate()
    return end - timedelta(days=period_days() - 1), end


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def area(action: str) -> str:
    return action.split(".", 1)[0]


def production_activity(start: date, end: date) -> dict[int, dict[str, int]]:
    """``{user id: {area: count}}`` of production events in the period (one grouped query)."""
    lo, hi = bounds(start, end)
    rows = (
        AuditEvent.objects.filter(
            tier=Tier.PRODUCTION, at__gte=lo, at__lt=hi, actor_id__isnull=False
        )
        .values("actor_id", "action")
        .annotate(n=Count("pk"))
        .order_by()
    )
    out: dict[int, dict[str, int]] = {}
    for row in rows:
        by_area = out.setdefault(row["actor_id"], {})
        key = area(row["action"])
        by_area[key] = by_area.get(key, 0) + row["n"]
    return out


def reviewed_users():
    """Every active login (people and service accounts), with their groups for ``role_of``."""
    return get_user_model().objects.filter(is_active=True).prefetch_related("groups")


def user_role(user) -> str:
    if user.is_superuser:
        return "admin"
    names = {g.name for g in user.groups.all()}
    for role in ("admin", "approver", "operator", "viewer"):
        if role in names:
            return role
    return ""


def audit_url(user_id: int, start: date, end: date, action: str = "") -> str:
    query = {
        "operator": user_id,
        "tier": Tier.PRODUCTION,
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
    }
    if action:
        query["action"] = f"{action}."
    return f"{reverse('audit:event_list')}?{urlencode(query)}"
