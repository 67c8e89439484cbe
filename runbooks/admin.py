from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import Run, Runbook, RunbookVersion


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
