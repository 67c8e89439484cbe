from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the audit trail is written by services only and never edited."""

    list_display = ("seq", "at", "actor_label", "action", "target_repr", "tier")
    list_filter = ("tier", "action")
    search_fields = ("actor_label", "action", "target_repr", "request_id")
    ordering = ("-seq",)
