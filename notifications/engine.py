"""From committed audit events to notifications and deliveries.

Why audit events rather than ``notify(...)`` calls in each service: every service already records
one event with a stable action name inside its transaction, so the trail *is* the outbox — a
notification exists only for a change that committed (a rolled-back transaction leaves no event),
no service grows a second side effect to keep in step, and an app adds notifications by declaring
handlers in its own ``notify.py`` without touching its services.

Two ways in, one path: ``on_event`` (subscribed through ``opsportal.events``, called after each
commit) enqueues :func:`process_events` on django-q2; the one-minute tick calls it too, so an
event whose on-commit callback was lost (the process died right after the commit) is still told.
:func:`process_events` walks the trail past a cursor (one locked row): appends to the trail are
serialized, so its ``seq`` order is its commit order and nothing committed is skipped. A
notification's ``key`` is unique, so an event handled twice is stored once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from opsportal.audit.masking import scrub, scrub_text
from opsportal.audit.models import AuditChainHead, AuditEvent

from . import registry
from .hooks import DIGEST, IMMEDIATE, OFF, Notice, cares
from .models import Channel, Delivery, DeliveryStatus, EventCursor, Notification, Preference

logger = logging.getLogger(__name__)

BATCH = 200
# Events older than this are not told any more (a cursor reset must not mail last year).
MAX_EVENT_AGE = timedelta(hours=48)


def on_event(event: AuditEvent) -> None:
    """After a commit: have a worker turn it (and anything still pending) into messages."""
    if any(cares(handler, event) for handler in registry.handlers_for(event.action)):
        async_task("notifications.tasks.process_events", task_name="notify-events")


def process_events(*, max_batches: int = 50) -> int:
    """Notifications for every committed audit event past the cursor; how many were stored."""
    stored = 0
    for _ in range(max_batches):
        count, more = _batch()
        stored += count
        if not more:
            break
    return stored


def _lock_cursor() -> EventCursor:
    cursor = EventCursor.objects.select_for_update().filter(pk=1).first()
    if cursor is None:  # a flushed database: the trail starts again too
        EventCursor.objects.get_or_create(pk=1, defaults={"seq": 0})
        cursor = EventCursor.objects.select_for_update().get(pk=1)
    return cursor


def _batch() -> tuple[int, bool]:
    stored = 0
    with transaction.atomic():
        cursor = _lock_cursor()
        head = AuditChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
        reset = head < cursor.seq  # the trail was emptied under the cursor (a test's flush)
        if reset:
            cursor.seq = 0
        if head <= cursor.seq:
            if reset:
                cursor.save(update_fields=["seq"])
            return 0, False
        events = list(
            AuditEvent.objects.filter(registry.actions_q(), seq__gt=cursor.seq, seq__lte=head)
            .order_by("seq")
            .select_related("actor")[:BATCH]
        )
        more = len(events) == BATCH
        oldest = timezone.now() - MAX_EVENT_AGE
        for event in events:
            if event.at < oldest:
                continue
            for handler in registry.handlers_for(event.action):
                if cares(handler, event):
                    stored += _run(handler, event)
        cursor.seq = events[-1].seq if more else head
        cursor.updated_at = timezone.now()
        cursor.save(update_fields=["seq", "updated_at"])
    return stored, more


def _run(handler, event) -> int:
    """One handler on one event; a failing handler loses its own notices, nothing else."""
    try:
        with transaction.atomic():
            return sum(store(notice, event=event) for notice in handler(event) or ())
    except Exception:
        logger.exception("notify handler %s failed on %s #%s", handler, event.action, event.seq)
        return 0


def render_body(notice: Notice) -> str:
    """The message's text, credentials masked; each channel adds the link its own way."""
    lines = [str(line) for line in notice.lines if line is not None]
    return scrub_text("\n".join(lines).strip())[:4000]


def store(notice: Notice, *, event: AuditEvent | None = None) -> int:
    """Store ``notice`` with a delivery per recipient and channel; 0 when its key is known.

    Must run inside a transaction: the sends are enqueued when it commits.
    """
    event_type = registry.event_type(notice.event)
    if not notice.key and event is None:
        raise ValueError("a notice that no audit event caused needs its own key")
    key = (notice.key or f"{notice.event}:{event.seq}")[:200]
    if Notification.objects.filter(key=key).exists():
        return 0
    notification = Notification.objects.create(
        key=key,
        event=notice.event,
        subject=scrub_text(" ".join(notice.subject.split()))[:200],
        body=render_body(notice),
        url=notice.url[:300],
        facts=scrub({str(k): str(v) for k, v in notice.facts.items()}),
        project_id=notice.project_id,
        audit_seq=event.seq if event else None,
    )
    now = timezone.now()
    deliveries = _email_deliveries(notification, notice, event_type.default, now)
    heard_by = Q(project__isnull=True)  # portal-wide channels hear every project
    if notice.project_id:
        heard_by |= Q(project_id=notice.project_id)
    channels = Channel.objects.filter(heard_by, enabled=True)
    for channel in channels:
        if channel.wants(notice.event):
            deliveries.append(
                Delivery(notification=notification, channel=channel, channel_label=str(channel))
            )
    Delivery.objects.bulk_create(deliveries)
    due = [d.pk for d in deliveries if d.status == DeliveryStatus.PENDING]
    if due:
        transaction.on_commit(lambda: enqueue(due))
    return 1


def store_for_channel(notice: Notice, channel: Channel) -> Notification:
    """One notification for one channel whatever it subscribes to (an admin's test message)."""
    notification = Notification.objects.create(
        key=notice.key[:200],
        event=notice.event,
        subject=scrub_text(" ".join(notice.subject.split()))[:200],
        body=render_body(notice),
        url=notice.url[:300],
        project_id=notice.project_id,
    )
    Delivery.objects.create(notification=notification, channel=channel, channel_label=str(channel))
    return notification


def _email_deliveries(notification, notice: Notice, default: str, now) -> list[Delivery]:
    users = {u.pk: u for u in notice.recipients if u is not None and u.is_active}
    if not users:
        return []
    chosen = dict(
        Preference.objects.filter(user_id__in=users, event=notice.event).values_list(
            "user_id", "mode"
        )
    )
    out = []
    for pk, user in sorted(users.items()):
        mode = chosen.get(pk, default)
        if mode == OFF:
            continue
        delivery = Delivery(
            notification=notification,
            recipient=user,
            channel_label="e-mail",
            address=user.email or "",
        )
        if not user.email:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.last_error = f"{user.get_username()} has no e-mail address."
        elif mode == DIGEST:
            delivery.status = DeliveryStatus.DIGEST
            delivery.next_attempt_at = next_digest_at(now)
        elif mode != IMMEDIATE:
            continue
        out.append(delivery)
    return out


def next_digest_at(now):
    """The next daily digest time (``NOTIFY_DIGEST_HOUR`` in the portal's time zone)."""
    local = timezone.localtime(now)
    at = local.replace(hour=settings.NOTIFY_DIGEST_HOUR, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)
    return at


def enqueue(delivery_ids: list[int]) -> None:
    for pk in delivery_ids:
        async_task("notifications.tasks.send_delivery", pk, task_name=f"notify-send-{pk}")


# --- the one-minute tick, the daily scan ----------------------------------------------------------
STALE_SENDING = timedelta(minutes=10)


def tick(now) -> dict:
    """Catch up on events, put due retries back in the queue, send due digests."""
    told = process_events()
    stale = Delivery.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - STALE_SENDING
    )
    stale.update(
        status=DeliveryStatus.RETRYING,
        next_attempt_at=now,
        last_error="The worker stopped while sending: tried again (it may have gone out).",
    )
    due = list(
        Delivery.objects.filter(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )
    Delivery.objects.filter(pk__in=due, status=DeliveryStatus.RETRYING).update(
        status=DeliveryStatus.PENDING
    )
    enqueue(due)
    readers = list(
        Delivery.objects.filter(status=DeliveryStatus.DIGEST, next_attempt_at__lte=now)
        .exclude(recipient=None)
        .order_by()
        .values_list("recipient_id", flat=True)
        .distinct()
    )
    for recipient_id in readers:
        async_task("notifications.tasks.send_digest", recipient_id, now, task_name="notify-digest")
    return {"notifications": told, "retries": len(due), "digests": len(readers)}


def scan(now) -> int:
    """What time brought: each app's ``scan(now)`` records it as audit events (once each), which
    the handlers then tell like any other event, after each commits. How many were recorded."""
    return sum(scanner(now) or 0 for scanner in registry.scanners())


def verify_audit():
    from opsportal.audit.chain import verify_chain
    from opsportal.audit.services import chain_verification_failed

    result = verify_chain(in_processes=False)
    if not result.ok:
        chain_verification_failed(result=result, via="the daily verification")
    return result
