from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.functional import cached_property

from opsportal.choices import Tier

from .chain import CHANGES_PREFIX, REDACTED, TEXT_FIELDS


class AuditEventQuerySet(models.QuerySet):
    def for_operator(self, user) -> "AuditEventQuerySet":
        return self.filter(actor=user)

    def for_target(self, obj) -> "AuditEventQuerySet":
        """The history of ``obj``: the events whose target it is, and what its app adds
        (``<app>/audit_links.py`` ``HISTORY``: a runbook's versions, a member's import job)."""
        from .links import history_q

        return self.filter(history_q(obj))

    def for_request(self, request_id: str) -> "AuditEventQuerySet":
        """Every event one HTTP request (or command, task) recorded."""
        return self.filter(request_id=request_id) if request_id else self.none()

    def update(self, **kwargs):
        raise ValidationError("Audit events are append-only and cannot be changed.")

    def delete(self):
        raise ValidationError("Audit events are append-only and cannot be deleted.")

    def _apply_redaction(self, **values) -> int:
        """The one update an event allows: a redaction (``audit_event_redact`` only)."""
        allowed = {"salt", "redactions", "changes", *TEXT_FIELDS}
        if not values or set(values) - allowed:
            raise ValidationError("Only a redaction may change an audit event.")
        return models.QuerySet.update(self, **values)


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
    # Format 2 (docs/audit.md): the random salt of the event's field commitments (32 hex
    # characters), "" once a field is redacted; then ``redactions`` holds the remaining fields'
    # salts, the redacted fields' commitments and the log of redactions. Format 1 rows (written
    # before the upgrade) have neither.
    salt = models.CharField(max_length=32, blank=True, default="")
    redactions = models.JSONField(null=True, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-seq"]
        permissions = [("redact_auditevent", "Can redact a field of an audit event")]
        indexes = [
            models.Index(fields=["actor", "-seq"], name="audit_actor_seq"),
            models.Index(fields=["tier", "-seq"], name="audit_tier_seq"),
            models.Index(fields=["target_type", "target_id"], name="audit_target"),
            # a history that names its target (an app's HISTORY rule: a variable deleted and
            # added again under the same name): with audit_target, a BitmapOr instead of a walk
            # back through the whole trail
            models.Index(fields=["target_type", "target_repr"], name="audit_target_repr"),
            models.Index(fields=["at", "seq"], name="audit_at_seq"),
            # "the other events of this request", from the event page
            models.Index(
                fields=["request_id"], name="audit_request", condition=~models.Q(request_id="")
            ),
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

    # --- where it leads (opsportal.audit.links; no query) ---------------------------------------
    @cached_property
    def target_url(self) -> str | None:
        from .links import target_url

        return target_url(self.target_type, self.target_id)

    @cached_property
    def job_url(self) -> str | None:
        from .links import target_url

        return target_url("imports.importjob", self.job_id) if self.job_id else None

    @cached_property
    def requester(self) -> str:
        """Who asked for what this event did, when a change request caused it: its ``author``
        (the actor is then the approver, or whoever decided or applied the request)."""
        changes = self.shown_changes
        if not isinstance(changes, dict):
            return ""
        about_request = (
            self.target_type == "environments.changerequest" or "change_request" in changes
        )
        author = changes.get("author") if about_request else None
        return author if isinstance(author, str) else ""

    def request_url(self) -> str:
        """The audit log filtered to the other events of the request this one came from."""
        return f"{reverse('audit:event_list')}?request={self.request_id}" if self.request_id else ""

    # --- redactions (see docs/audit.md) --------------------------------------------------------
    @property
    def redaction_log(self) -> list[dict]:
        return (self.redactions or {}).get("log") or []

    def is_redacted(self, path: str) -> bool:
        return path in ((self.redactions or {}).get("commit") or {})

    def redaction_note(self, path: str) -> str:
        """How a redacted field is shown: ``redacted (by alice on 2026-05-01: reason)``.

        The reason is the redaction event's message, attached to a page's events in one query
        by :func:`opsportal.audit.services.attach_redaction_notes`."""
        entry = next((e for e in reversed(self.redaction_log) if e.get("path") == path), {})
        reason = getattr(self, "_redaction_reasons", {}).get(entry.get("event"), "")
        when = (entry.get("at") or "")[:10]
        said = f"by {entry.get('by', '?')} on {when}"
        return f"redacted ({said}: {reason})" if reason else f"redacted ({said})"

    @cached_property
    def shown(self) -> dict:
        """Each redactable text field as pages and exports show it: the value, or its note."""
        values = {name: getattr(self, name) for name in TEXT_FIELDS}
        if self.redactions:
            for name in TEXT_FIELDS:
                if self.is_redacted(name):
                    values[name] = self.redaction_note(name)
        return values

    @cached_property
    def shown_changes(self):
        """``changes`` with each redacted value replaced by its note."""
        if not self.redactions or not isinstance(self.changes, dict):
            return self.changes
        return {
            key: self.redaction_note(CHANGES_PREFIX + key)
            if value == REDACTED and self.is_redacted(CHANGES_PREFIX + key)
            else value
            for key, value in self.changes.items()
        }


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
