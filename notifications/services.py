"""Every write an admin or a user makes here, each with its audit event.

Channels (admins, ``notifications.*_channel``): the webhook URL is classified like an inventory
value (``opsportal.credentials.classify``), fingerprinted (``opsportal.audit.masking``) and
stored encrypted; the audit event and every page carry its kind, host and hint only. Preferences
are each user's own.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from opsportal.accounts.permissions import require
from opsportal.audit.masking import fingerprint, masked_hint
from opsportal.audit.services import record
from opsportal.credentials import classify

from . import crypto, registry, sending
from .hooks import Notice
from .models import Channel, ChannelKind, Delivery, DeliveryStatus, Mode, Preference

ADD, CHANGE, DELETE = (
    "notifications.add_channel",
    "notifications.change_channel",
    "notifications.delete_channel",
)
RETRY = "notifications.change_delivery"


def _url_state(url: str) -> dict:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError({"url": "Paste the webhook URL the service gave you (https://…)."})
    if parts.scheme != "https" and not parts.hostname.startswith(("127.", "localhost")):
        raise ValidationError({"url": "Webhook URLs carry their secret in the path: use https."})
    if not crypto.configured():
        raise ValidationError(
            {"url": "NOTIFY_ENCRYPTION_KEY is not set: the portal cannot store webhook URLs."}
        )
    verdict = classify("WEBHOOK_URL", url)
    return {
        "url_encrypted": crypto.encrypt(url),
        "url_fingerprint": fingerprint(url),
        "url_kind": verdict.kind,
        "url_host": parts.hostname[:200],
        "url_hint": masked_hint(url),
    }


def _events(events) -> list[str]:
    known = registry.event_types()
    events = sorted(set(events or ()))
    unknown = [e for e in events if e not in known]
    if unknown:
        raise ValidationError({"events": f"Unknown events: {', '.join(unknown)}."})
    return events


def _public(channel: Channel) -> dict:
    return {
        "name": channel.name,
        "kind": channel.kind,
        "project": str(channel.project) if channel.project_id else "all projects",
        "events": channel.events or "all",
        "enabled": channel.enabled,
        "url": {
            "kind": channel.url_kind,
            "host": channel.url_host,
            "hint": channel.url_hint,
            "fingerprint": channel.url_fingerprint[:16],
        },
    }


def channel_create(
    *, actor, name: str, kind: str, url: str, project=None, events=(), enabled: bool = True
) -> Channel:
    require(actor, ADD, action="add notification channels")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the channel (e.g. #ops-alerts)."})
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}."})
    state = _url_state(url)
    with transaction.atomic():
        channel = Channel(
            name=name,
            kind=kind,
            project=project,
            events=_events(events),
            enabled=enabled,
            created_by=actor,
            **state,
        )
        channel.save()
        record(
            actor=actor,
            action="notification.channel.created",
            target=channel,
            changes=_public(channel),
        )
    return channel


def channel_update(
    *, actor, channel: Channel, name: str, kind: str, project=None, events=(), enabled: bool,
    url: str = "",
) -> Channel:  # fmt: skip
    """Change a channel; ``url`` empty keeps the stored one (it is never shown back)."""
    require(actor, CHANGE, action="change notification channels")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the channel (e.g. #ops-alerts)."})
    if kind not in ChannelKind.values:
        raise ValidationError({"kind": f"Unknown kind {kind!r}."})
    state = _url_state(url) if (url or "").strip() else {}
    events = _events(events)
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        before = _public(channel)
        switched_on = enabled and not channel.enabled
        channel.name, channel.kind, channel.project = name, kind, project
        channel.events, channel.enabled = events, enabled
        for field, value in state.items():
            setattr(channel, field, value)
        if state or switched_on:  # a new URL, or switched back on: judged afresh
            channel.consecutive_failures, channel.last_error = 0, ""
        channel.save()
        after = _public(channel)
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if state and "url" not in changes:
            changes["url"] = ["replaced with the same URL", after["url"]]
        record(actor=actor, action="notification.channel.updated", target=channel, changes=changes)
    return channel


def channel_delete(*, actor, channel: Channel) -> None:
    require(actor, DELETE, action="delete notification channels")
    with transaction.atomic():
        channel = Channel.objects.select_for_update().get(pk=channel.pk)
        record(
            actor=actor,
            action="notification.channel.deleted",
            target=channel,
            changes=_public(channel),
        )
        channel.delete()


def channel_test(*, actor, channel: Channel) -> Delivery:
    """Send a test message now (through the same delivery log): the delivery as it ended."""
    require(actor, CHANGE, action="test notification channels")
    from . import engine

    with transaction.atomic():
        record(actor=actor, action="notification.channel.tested", target=channel)
        notice = Notice(
            event="notification.test",
            subject=f"Test message for {channel.name}",
            lines=[f"{actor} sent this test from opsportal. If you read it, the channel works."],
            url=channel.get_absolute_url(),
            project_id=channel.project_id,
            key=f"notification.test:{channel.pk}:{timezone.now().timestamp()}",
        )
        notification = engine.store_for_channel(notice, channel)
        delivery = notification.deliveries.get()
    return sending.deliver(delivery.pk) or delivery


def delivery_retry(*, actor, delivery: Delivery) -> Delivery:
    """An admin sends a failed delivery again (after fixing the channel)."""
    require(actor, RETRY, action="retry notification deliveries")
    with transaction.atomic():
        d = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if d.status not in (DeliveryStatus.FAILED, DeliveryStatus.RETRYING):
            raise ValidationError(f"This delivery is {d.get_status_display().lower()}.")
        before = d.status
        d.status, d.next_attempt_at = DeliveryStatus.PENDING, None
        d.save(update_fields=["status", "next_attempt_at"])
        record(
            actor=actor,
            action="notification.delivery.retried",
            target=d,
            target_repr=f"delivery #{d.pk} of {d.notification.event} to {d.channel_label}",
            changes={"status": [before, d.status], "attempts": d.attempts},
        )
    return sending.deliver(d.pk) or d


def preferences_update(*, actor, user, modes: dict[str, str]) -> dict[str, str]:
    """Set ``user``'s e-mail mode per event; the changed ones are audited in one event."""
    if actor is None or actor.pk != user.pk:
        require(actor, "notifications.change_preference", action="change other people's e-mail")
    known = registry.event_types()
    errors = {}
    for event, mode in modes.items():
        if event not in known:
            errors[event] = "Unknown event."
        elif mode not in Mode.values:
            errors[event] = f"Choose one of: {', '.join(Mode.values)}."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = dict(Preference.objects.filter(user=user).values_list("event", "mode"))
        changed = {}
        for event, mode in sorted(modes.items()):
            before = current.get(event, known[event].default)
            if before == mode:
                continue
            Preference.objects.update_or_create(user=user, event=event, defaults={"mode": mode})
            changed[event] = [before, mode]
        if changed:
            record(
                actor=actor,
                action="notification.preferences.changed",
                target=user,
                target_repr=f"notification preferences of {user.get_username()}",
                changes=changed,
            )
    return changed


def channels_rekey(*, actor) -> int:
    """Re-encrypt every channel's URL under the first key (``manage.py notify_rekey``).

    ``actor=None`` is the command line, run by someone with shell access.
    """
    if actor is not None:
        require(actor, CHANGE, action="re-encrypt notification channels")
    with transaction.atomic():
        channels = list(Channel.objects.select_for_update().order_by("pk"))
        for channel in channels:
            channel.url_encrypted = crypto.rotate(channel.url_encrypted)
            channel.save(update_fields=["url_encrypted"])
        record(
            actor=actor,
            action="notification.channels.rekeyed",
            target_type="notifications.channel",
            target_repr=f"{len(channels)} chat channel(s)",
            changes={"channels": [c.pk for c in channels]},
        )
    return len(channels)
