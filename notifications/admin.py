from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import Channel, Delivery, Notification


@admin.register(Channel)
class ChannelAdmin(ReadOnlyAdmin):
    """Read-only; channels change through their pages (the URL is never shown, even encrypted)."""

    list_display = ("name", "kind", "project", "enabled", "consecutive_failures")
    exclude = ("url_encrypted",)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "url_encrypted"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event", "subject")
    list_filter = ("event",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "channel_label", "address", "status", "attempts")
    list_filter = ("status",)
