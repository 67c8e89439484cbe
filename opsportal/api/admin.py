"""Read-only admin: tokens are created and revoked through their services (pages, api_token)."""

from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import ApiToken, ServiceAccount


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "user", "kind", "created_at", "expires_at", "last_used_at")
    list_filter = ("kind",)
    search_fields = ("name", "user__username")
    exclude = ("secret_hash",)

    def get_readonly_fields(self, request, obj=None):
        return [f for f in super().get_readonly_fields(request, obj) if f != "secret_hash"]


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ReadOnlyAdmin):
    list_display = ("user", "description", "created_by", "created_at")
