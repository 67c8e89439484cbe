"""Dashboard panels: the user's queue first (full width), and notifications not getting through
(admins)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from . import crypto, queue
from .models import Channel, Delivery, DeliveryStatus

SHOWN = 8
QUIET_BACKENDS = ("console", "dummy", "locmem")


def _health() -> dict | None:
    channels = list(Channel.objects.filter(enabled=True, consecutive_failures__gt=0)[:10])
    since = timezone.now() - timedelta(hours=24)
    failing_email = Delivery.objects.filter(
        channel__isnull=True,
        status__in=[DeliveryStatus.RETRYING, DeliveryStatus.FAILED],
        created_at__gte=since,
    ).order_by("-pk")
    latest = failing_email.values_list("last_error", flat=True).first()
    warnings = []
    backend = settings.EMAIL_BACKEND.rsplit(".", 2)[-2]
    if not settings.DEBUG and backend in QUIET_BACKENDS:
        warnings.append(
            f"E-mail goes to the {backend} backend: set EMAIL_URL for it to reach anyone."
        )
    if not crypto.configured():
        warnings.append("NOTIFY_ENCRYPTION_KEY is not set: chat channels are off.")
    if not (channels or latest is not None or warnings):
        return None
    return {
        "template": "notifications/_dashboard_health.html",
        "channels": channels,
        "email_failing": failing_email.count() if latest is not None else 0,
        "email_error": latest or "",
        "warnings": warnings,
        "order": 1,
    }


def queue_panel(user) -> dict | None:
    items = queue.collect(user)
    if not items:
        return None
    return {"items": items[:SHOWN], "count": len(items), "more": max(0, len(items) - SHOWN)}


def panels(request) -> list[dict]:
    # The queue leads the dashboard; it is fetched by htmx as soon as the page loads, so its
    # queries are its own request's, not the dashboard's (both are held to the query budget).
    out = [{"template": "notifications/_dashboard_queue_slot.html", "order": 0, "width": "col-12"}]
    if request.user.has_perm("notifications.view_delivery"):
        health = _health()
        if health:
            out.append(health)
    return out
