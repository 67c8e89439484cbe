from django.contrib import admin

from .models import Run, Runbook, RunbookVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    """Runbooks change only through their services (and audit); the admin reads."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Runbook)
class RunbookAdmin(ReadOnlyAdmin):
    list_display = ["title", "project", "created_at"]


@admin.register(RunbookVersion)
class RunbookVersionAdmin(ReadOnlyAdmin):
    list_display = ["runbook", "number", "change_summary", "created_by", "created_at"]


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    list_display = ["version", "environment", "status", "started_by", "started_at"]
    list_filter = ["status"]
