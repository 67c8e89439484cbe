from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import RunSchedule, ScheduledRun


@admin.register(RunSchedule)
class RunScheduleAdmin(ReadOnlyAdmin):
    list_display = ["runbook", "environment", "owner", "frequency", "active", "next_due_at"]
    list_filter = ["frequency", "active"]


@admin.register(ScheduledRun)
class ScheduledRunAdmin(ReadOnlyAdmin):
    list_display = ["schedule", "period_start", "due_at", "run", "overdue_noted_at"]
