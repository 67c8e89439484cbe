from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from environments.choices import Tier


class AuditEventQuerySet(models.QuerySet):
    def for_operator(self, user) -> "AuditEventQuerySet":
        return self.filter(actor=user)

    def update(self, **kwargs):
        raise ValidationError("Audit events are append-only and cannot be changed.")

    def delete(self):
        raise ValidationError("Audit events are append-only and cannot be deleted.")


class AuditEvent(models.Model):
    """One recorded change or security event; an append-only link of a sha256 hash chain.

    Rows are written only by :func:`opsportal.audit.services.record`. The model refuses updates and
    deletes, and on PostgreSQL a trigger does too, so an edit behind the portal's back needs the
    trigger dropped first, and then ``audit_verify`` names the altered row.
    """

    seq = models.BigIntegerField(unique=True, editable=False)
    at = models.DateTimeField(db_index=True)
    # No database constraint and no cascade: deleting a user or an environment must neither
    # rewrite nor remove the history that mentions it.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=300, blank=True)
    environment = models.ForeignKey(
        "environments.Environment",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    tier = models.CharField(max_length=20, choices=Tier.choices, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    job_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["actor", "-seq"], name="audit_actor_seq"),
            models.Index(fields=["tier", "-seq"], name="audit_tier_seq"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            models.Index(fields=["at", "seq"], name="audit_at_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError("Audit events are append-only and cannot be changed.")
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("audit:event_detail", kwargs={"seq": self.seq})

    def delete(self, *args, **kwargs):
        raise ValidationError("Audit events are append-only and cannot be deleted.")


class AuditChainHead(models.Model):
    """The single row holding the chain's last hash; locking it serialises appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)
    # The last event's time: appends never go back in time, so `at` rises with `seq` and a
    # date range maps onto a seq range (what keeps date filters fast on a large log).
    at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"chain head #{self.seq} {self.hash[:12]}"

    def get_absolute_url(self) -> str:
        return reverse("audit:event_list")
