from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import Campaign, Recipient, Unsubscription


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("pk", "name", "status", "total", "sent_count", "failed_count", "created_at")
    list_filter = ("status",)


@admin.register(Recipient)
class RecipientAdmin(ReadOnlyAdmin):
    list_display = ("pk", "campaign", "email", "status", "attempts", "sent_at")
    list_filter = ("status",)
    raw_id_fields = ("member",)
    list_select_related = ("campaign",)


@admin.register(Unsubscription)
class UnsubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("pk", "member", "campaign", "at")
