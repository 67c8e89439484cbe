"""Channels, preferences, notifications and their delivery log.

A :class:`Notification` is one thing to tell (rendered once, masked); a :class:`Delivery` is
its way to one e-mail address or one chat channel, with its own status, attempts and last error:
the delivery log admins read. A channel's webhook URL is a secret: stored encrypted
(``crypto.py``), known to pages only by its kind, host and a hint of its last characters.
Rows are written by ``services.py`` and ``engine.py``/``sending.py`` only.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedTextField

from .hooks import DIGEST, IMMEDIATE, OFF


class ChannelKind(models.TextChoices):
    SLACK = "slack", "Slack (incoming webhook)"
    DISCORD = "discord", "Discord (channel webhook)"
    TEAMS = "teams", "Microsoft Teams (Workflows webhook)"
    WEBHOOK = "webhook", "Generic JSON webhook"


class Channel(models.Model):
    """A chat channel an admin set up: its webhook URL encrypted, the events it hears."""

    name = MaskedCharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    project = models.ForeignKey(
        "environments.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Empty: every project's events and the portal's own (audit failures).",
    )
    # Event keys this channel hears; empty: all of them.
    events = models.JSONField(default=list, blank=True)
    url_encrypted = models.TextField(editable=False)
    url_fingerprint = models.CharField(max_length=64, editable=False)
    url_kind = models.CharField(max_length=40, editable=False)
    url_host = models.CharField(max_length=200, editable=False)
    url_hint = models.CharField(max_length=8, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Health, as the last deliveries left it (the dashboard shows a failing channel).
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = MaskedCharField(max_length=500, blank=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display().split(' (')[0]})"

    def get_absolute_url(self) -> str:
        return reverse("notifications:channel_edit", args=[self.pk])

    @property
    def failing(self) -> bool:
        return self.enabled and self.consecutive_failures > 0

    @property
    def url_shown(self) -> str:
        """All a page may show of the URL: its kind, host and hint."""
        from opsportal.credentials import Kind

        label = Kind(self.url_kind).label if self.url_kind in Kind.values else self.url_kind
        hint = f" ••••{self.url_hint[1:]}" if self.url_hint else ""
        return f"{label} · {self.url_host}{hint}"

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class Mode(models.TextChoices):
    IMMEDIATE = IMMEDIATE, "E-mail at once"
    DIGEST = DIGEST, "Daily digest"
    OFF = OFF, "Off"


class Preference(models.Model):
    """A user's choice for one event; without a row the event's default applies."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notify_preferences"
    )
    event = models.CharField(max_length=60)
    mode = models.CharField(max_length=10, choices=Mode.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "event"], name="notify_preference_once")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.event}: {self.mode}"


class Notification(models.Model):
    key = models.CharField(max_length=200, unique=True)
    event = models.CharField(max_length=60, db_index=True)
    subject = MaskedCharField(max_length=200)
    body = MaskedTextField()
    url = models.CharField(max_length=300)  # a portal path; messages prefix PORTAL_BASE_URL
    facts = MaskedJSONField(default=dict, blank=True)
    project = models.ForeignKey(
        "environments.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    audit_seq = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return self.subject

    def get_absolute_url(self) -> str:
        return f"{reverse('notifications:delivery_log')}?notification={self.pk}"

    @property
    def link(self) -> str:
        return f"{settings.PORTAL_BASE_URL}{self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    SENDING = "sending", "Sending"
    RETRYING = "retrying", "Retrying"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    DIGEST = "digest", "Waiting for the digest"
    SKIPPED = "skipped", "Not sent"


OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.RETRYING, DeliveryStatus.SENDING)


class Delivery(models.Model):
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="deliveries"
    )
    channel = models.ForeignKey(
        Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept when the channel or user is gone: "Slack: #ops" / "e-mail"
    channel_label = models.CharField(max_length=120)
    address = models.EmailField(blank=True)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = MaskedCharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "deliveries"
        constraints = [
            # Exactly one message per channel and per recipient for each notification.
            models.UniqueConstraint(
                fields=["notification", "channel"],
                condition=Q(channel__isnull=False),
                name="notify_delivery_once_per_channel",
            ),
            models.UniqueConstraint(
                fields=["notification", "recipient"],
                condition=Q(recipient__isnull=False),
                name="notify_delivery_once_per_recipient",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notify_delivery_due")]

    def __str__(self) -> str:
        return f"{self.notification.event} → {self.target} ({self.status})"

    @property
    def target(self) -> str:
        return self.address or self.channel_label

    @property
    def is_email(self) -> bool:
        return self.channel_id is None and bool(self.address)


class EventCursor(models.Model):
    """The last audit event turned into notifications (one row): events after it are pending."""

    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"notified up to #{self.seq}"


class Mark(models.Model):
    """What a notify hook remembers between events (the hygiene errors last seen on an
    environment), so it tells what is new rather than everything again."""

    key = models.CharField(max_length=200, unique=True)
    value = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key
