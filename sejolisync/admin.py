from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import Delivery, RefusedDelivery, ShopHook, SyncedOrder


class HidingAdmin(ReadOnlyAdmin):
    """Read-only, without the columns in ``exclude`` (hashes, ciphertext, personal data)."""

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f not in self.exclude]


@admin.register(ShopHook)
class ShopHookAdmin(HidingAdmin):
    list_display = ("name", "enabled", "processing", "created_at", "last_delivery_at")
    exclude = ("token_hash", "signing_secret_encrypted")


@admin.register(Delivery)
class DeliveryAdmin(HidingAdmin):
    list_display = ("pk", "hook", "received_at", "order_ref", "status", "state")
    list_filter = ("state", "hook")
    exclude = ("raw", "fields")


@admin.register(SyncedOrder)
class SyncedOrderAdmin(ReadOnlyAdmin):
    list_display = ("inv", "status", "paid_at", "updated_at")


@admin.register(RefusedDelivery)
class RefusedDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("minute", "hook", "reason", "ip", "count")
