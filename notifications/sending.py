"""Sending one delivery, honestly: claimed, attempted, settled with what really happened.

A delivery is claimed (``sending``, one more attempt) in its own transaction before anything
leaves, so two workers handed the same task never both send; it is settled afterwards: ``sent``,
``retrying`` with the next attempt after a growing pause (30 s, 2 min, 8 min, 32 min, ~2 h;
a ``Retry-After`` is honoured), or ``failed`` once ``NOTIFY_MAX_ATTEMPTS`` are spent or when the
service refused the message for good (an unknown webhook, a bad payload). The error kept is
masked and names the host, never the URL (its path is the secret). A channel's health follows
its deliveries: the dashboard shows a channel whose last attempt failed.

Webhooks go through the portal's outbound address policy (``opsportal.outbound``): resolved
once, refused for loopback, private, link-local (cloud metadata) and other internal addresses
unless ``NOTIFY_ALLOWED_NETWORKS`` allows them, and connected to the address that was checked.
"""

from __future__ import annotations

import http.client
import json
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from opsportal import outbound
from opsportal.audit.masking import scrub_text

from . import crypto, formats, registry
from .models import Channel, Delivery, DeliveryStatus

logger = logging.getLogger(__name__)

TIMEOUT = 10.0
USER_AGENT = "opsportal-notify/1"
MAX_RETRY_AFTER = 3600
PREFERENCES_PATH = "/notifications/preferences/"
# A client error that trying again cannot fix (unlike 408 timeout, 425, 429 rate limit).
PERMANENT = frozenset(range(400, 500)) - {408, 425, 429}


@dataclass
class Outcome:
    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: int | None = None


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: int | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 4 ** max(attempts - 1, 0), 6 * 3600))


# --- webhooks -----------------------------------------------------------------------------------
def _vet(host: str, port: int) -> list:
    try:
        networks = outbound.parse_networks(getattr(settings, "NOTIFY_ALLOWED_NETWORKS", ()) or ())
        addresses = outbound.resolve(host, port)
    except ImproperlyConfigured:
        raise SendError("NOTIFY_ALLOWED_NETWORKS lists something that is not a network.") from None
    except outbound.OutboundError as exc:
        raise SendError(str(exc)) from None
    for ip in addresses:
        reason = outbound.refusal(ip, networks)
        if reason:
            raise SendError(
                f"{host} resolves to a non-public address ({reason}): the portal does not post "
                "there. Whoever runs the portal can allow a network with NOTIFY_ALLOWED_NETWORKS.",
                permanent=True,
            )
    return addresses


def _retry_after(value: str | None) -> int | None:
    try:
        return max(0, min(int(float(value)), MAX_RETRY_AFTER)) if value else None
    except ValueError:
        return None


def post_json(url: str, payload: dict, *, timeout: float = TIMEOUT) -> int:
    """POST ``payload`` to ``url``; the HTTP status when it is 2xx, else :class:`SendError`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise SendError("The channel's URL is not an http(s) URL.", permanent=True)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = _vet(host, port)
    cls = (
        outbound.PinnedHTTPSConnection if parts.scheme == "https" else outbound.PinnedHTTPConnection
    )
    conn = cls(host, port, addresses=addresses, timeout=timeout)
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request(
            "POST",
            path,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT},
        )
        resp = conn.getresponse()
        answer = resp.read(2048)
    except (OSError, http.client.HTTPException) as exc:
        what = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
        raise SendError(f"{host}: no answer ({what}).") from None
    finally:
        conn.close()
    if 200 <= resp.status < 300:
        return resp.status
    said = " ".join(answer.decode("utf-8", "replace").split())[:120]
    raise SendError(
        f"{host} answered HTTP {resp.status}" + (f": {said}" if said else "") + ".",
        permanent=resp.status in PERMANENT,
        retry_after=_retry_after(resp.getheader("Retry-After")),
    )


# --- one delivery -------------------------------------------------------------------------------
def _claim(pk: int, now) -> Delivery | None:
    with transaction.atomic():
        d = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("notification", "channel", "recipient")
            .filter(pk=pk)
            .first()
        )
        if d is None or d.status != DeliveryStatus.PENDING:
            return None  # sent, settled or claimed by another worker
        d.status, d.attempts, d.claimed_at = DeliveryStatus.SENDING, d.attempts + 1, now
        d.save(update_fields=["status", "attempts", "claimed_at"])
    return d


def _footer(event: str) -> str:
    try:
        audience = registry.event_type(event).audience
    except ValueError:  # an event no app declares any more
        audience = ""
    why = f"You receive this as {audience}.\n" if audience else ""
    return f"{why}Choose what you receive: {settings.PORTAL_BASE_URL}{PREFERENCES_PATH}"


def _attempt(d: Delivery) -> Outcome:
    try:
        if d.is_email:
            message = EmailMessage(
                subject=formats.email_subject(d.notification),
                body=formats.email_text(d.notification, footer=_footer(d.notification.event)),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[d.address],
                headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
            )
            message.send(fail_silently=False)
        else:
            channel = d.channel
            if channel is None or not channel.enabled:
                return Outcome(False, "The channel was disabled or deleted.", permanent=True)
            post_json(
                crypto.decrypt(channel.url_encrypted), formats.payload(channel.kind, d.notification)
            )
    except SendError as exc:
        return Outcome(False, str(exc), exc.permanent, exc.retry_after)
    except crypto.KeyMissing as exc:
        return Outcome(False, str(exc), permanent=True)
    except Exception as exc:  # SMTP errors, a backend's own exceptions
        return Outcome(False, f"{type(exc).__name__}: {exc}")
    return Outcome(True)


def settle(d: Delivery, outcome: Outcome, now) -> Delivery:
    error = scrub_text(outcome.error)[:500]
    with transaction.atomic():
        d = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("notification")
            .get(pk=d.pk)
        )
        if outcome.ok:
            d.status, d.sent_at, d.next_attempt_at = DeliveryStatus.SENT, now, None
        else:
            d.last_error = error
            gave_up = outcome.permanent or d.attempts >= settings.NOTIFY_MAX_ATTEMPTS
            if gave_up:
                d.status, d.next_attempt_at = DeliveryStatus.FAILED, None
            else:
                pause = backoff(d.attempts)
                if outcome.retry_after:
                    pause = max(pause, timedelta(seconds=outcome.retry_after))
                d.status, d.next_attempt_at = DeliveryStatus.RETRYING, now + pause
        d.save(update_fields=["status", "sent_at", "next_attempt_at", "last_error"])
        if d.channel_id:
            channel = Channel.objects.select_for_update().filter(pk=d.channel_id).first()
            if channel is not None:
                if outcome.ok:
                    channel.consecutive_failures, channel.last_success_at = 0, now
                else:
                    channel.consecutive_failures += 1
                    channel.last_failure_at, channel.last_error = now, error
                channel.save(
                    update_fields=[
                        "consecutive_failures",
                        "last_success_at",
                        "last_failure_at",
                        "last_error",
                    ]
                )
    if not outcome.ok:
        logger.warning(
            "notification delivery %s to %s: attempt %s failed (%s)",
            d.pk,
            d.channel_label,
            d.attempts,
            error,
        )
    return d


def deliver(pk: int, *, now=None) -> Delivery | None:
    """Send delivery ``pk`` if it is queued; the delivery as it was left, or None if not ours."""
    now = now or timezone.now()
    d = _claim(pk, now)
    if d is None:
        return None
    return settle(d, _attempt(d), now)


# --- daily digests ------------------------------------------------------------------------------
def send_digest(recipient_id: int, *, due_before=None, now=None) -> int:
    """One e-mail with every digest delivery of a user that is due; how many it carried."""
    now = now or timezone.now()
    due_before = due_before or now
    with transaction.atomic():
        items = list(
            Delivery.objects.select_for_update(of=("self",))
            .select_related("notification")
            .filter(
                recipient_id=recipient_id,
                status=DeliveryStatus.DIGEST,
                next_attempt_at__lte=due_before,
            )
            .order_by("notification__created_at", "pk")
        )
        if not items:
            return 0
        for d in items:
            d.status, d.attempts, d.claimed_at = DeliveryStatus.SENDING, d.attempts + 1, now
        Delivery.objects.bulk_update(items, ["status", "attempts", "claimed_at"])
    address = items[-1].address
    lines = []
    for d in items:
        n = d.notification
        when = timezone.localtime(n.created_at).strftime("%Y-%m-%d %H:%M")
        first = n.body.splitlines()[0] if n.body else ""
        lines += [f"- {when}  {n.subject}", *([f"  {first}"] if first else []), f"  {n.link}", ""]
    body = "\n".join(
        [f"{len(items)} notification(s) since your last digest:", "", *lines, "-- ",
         f"Choose what you receive: {settings.PORTAL_BASE_URL}{PREFERENCES_PATH}"]
    )  # fmt: skip
    try:
        EmailMessage(
            subject=f"[opsportal] Daily digest: {len(items)} notification(s)",
            body=scrub_text(body) + "\n",
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"},
        ).send(fail_silently=False)
        outcome = Outcome(True)
    except Exception as exc:
        outcome = Outcome(False, f"{type(exc).__name__}: {exc}")
    error = scrub_text(outcome.error)[:500]
    with transaction.atomic():
        for d in items:
            if outcome.ok:
                d.status, d.sent_at, d.next_attempt_at = DeliveryStatus.SENT, now, None
            elif d.attempts >= settings.NOTIFY_MAX_ATTEMPTS:
                d.status, d.next_attempt_at, d.last_error = DeliveryStatus.FAILED, None, error
            else:
                d.status, d.last_error = DeliveryStatus.DIGEST, error
                d.next_attempt_at = now + backoff(d.attempts)
        Delivery.objects.bulk_update(items, ["status", "sent_at", "next_attempt_at", "last_error"])
    return len(items)
