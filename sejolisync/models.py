"""Sejoli order sync: the shops' webhooks, every delivery they post, and the state each order
reached through them.

A ``ShopHook`` is one shop's endpoint (``/hooks/sejoli/<token>/``): only a SHA-256 of its token
is stored, and its optional HMAC signing secret is stored encrypted (Fernet, the key from the
environment). Every accepted post becomes a ``Delivery`` with its raw body (personal data: shown to
operators only), processed later by ``services.delivery_process`` through the importer's order
code. ``SyncedOrder`` remembers, per order, the status and payment time the sync last applied,
which makes processing idempotent and out-of-order safe. ``RefusedDelivery`` counts refused
posts per minute, source and reason, so a flood of bad posts costs one row a minute.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from imports.choices import OrderStatus
from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedTextField

from .choices import DeliveryState, RefusalReason


class ShopHook(models.Model):
    """One shop's order webhook: its token (hashed), optional signing secret (encrypted) and
    the switches that stop it accepting (``enabled``) or processing (``processing``)."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_hint = models.CharField(max_length=8, editable=False)
    signing_secret_encrypted = models.TextField(blank=True, editable=False)
    signing_fingerprint = models.CharField(max_length=64, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    processing = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_delivery_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("read_delivery_payload", "Can see the personal data of Sejoli deliveries"),
            ("replay_delivery", "Can replay Sejoli deliveries"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("sejolisync:hook_detail", args=[self.pk])

    @property
    def signed(self) -> bool:
        return bool(self.signing_secret_encrypted)

    @property
    def masked_url(self) -> str:
        return f"/hooks/sejoli/…{self.token_hint}/"


class Delivery(models.Model):
    """One post a shop's webhook accepted: the raw body as it came, what was read from it, and
    what processing made of it."""

    hook = models.ForeignKey(ShopHook, on_delete=models.PROTECT, related_name="deliveries")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    content_type = models.CharField(max_length=100, blank=True)
    raw = MaskedTextField(blank=True)
    fields = MaskedJSONField(default=dict, blank=True)
    order_ref = models.CharField(max_length=32, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED, db_index=True
    )
    outcome = MaskedCharField(max_length=200, blank=True)
    error = MaskedTextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"Delivery #{self.pk} {self.order_ref or '?'} {self.status or '?'}"

    def get_absolute_url(self) -> str:
        return reverse("sejolisync:delivery_detail", args=[self.pk])


class SyncedOrder(models.Model):
    """The status and payment time the sync last applied to an order (by its Sejoli order id)."""

    inv = models.CharField(max_length=32, unique=True)
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    rank = models.PositiveSmallIntegerField()
    paid_at = models.DateTimeField(null=True, blank=True)
    delivery = models.ForeignKey(
        Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"INV {self.inv} {self.status}"

    def get_absolute_url(self) -> str:
        return reverse("imports:order_list") + f"?q={self.inv}"


class RefusedDelivery(models.Model):
    """Refused posts of one minute from one address for one reason (and hook, when the token
    was right): one row and a count, never the body."""

    hook = models.ForeignKey(
        ShopHook, null=True, blank=True, on_delete=models.CASCADE, related_name="refusals"
    )
    # "<hook id or 0>|<minute>|<reason>|<address>": one row per bucket
    bucket = models.CharField(max_length=120, unique=True)
    minute = models.DateTimeField(db_index=True)
    reason = models.CharField(max_length=20, choices=RefusalReason.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    count = models.PositiveIntegerField(default=1)
    last_at = models.DateTimeField()

    class Meta:
        ordering = ["-minute", "-pk"]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ×{self.count} at {self.minute:%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("sejolisync:hook_list")
