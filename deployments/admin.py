"""Read-only admin: deployments are recorded through services.deployment_record (audited)."""

from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import Deployment, WebhookDelivery


@admin.register(Deployment)
class DeploymentAdmin(ReadOnlyAdmin):
    list_display = ("pk", "environment", "provider", "sha", "status", "started_at", "finished_at")
    list_filter = ("status", "provider", "source")
    search_fields = ("sha", "external_id")
    list_select_related = ("environment__project",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("provider", "event_type", "delivery_id", "outcome", "received_at")
    list_filter = ("provider", "outcome")
