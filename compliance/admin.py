from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import AccessReview, AccessReviewLine, RotationCampaign, RotationItem


@admin.register(RotationCampaign)
class RotationCampaignAdmin(ReadOnlyAdmin):
    list_display = ("pk", "title", "owner", "due_date", "status", "started_at")
    list_filter = ("status",)


@admin.register(RotationItem)
class RotationItemAdmin(ReadOnlyAdmin):
    list_display = ("pk", "campaign", "environment_label", "key", "waived_at")


@admin.register(AccessReview)
class AccessReviewAdmin(ReadOnlyAdmin):
    list_display = ("pk", "period_start", "period_end", "status", "completed_by", "completed_at")


@admin.register(AccessReviewLine)
class AccessReviewLineAdmin(ReadOnlyAdmin):
    list_display = ("pk", "review", "username", "role", "decision", "decided_by")
