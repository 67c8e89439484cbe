import tablib
from django.contrib import admin
from import_export.admin import ExportMixin

from opsportal.admin import ReadOnlyAdmin
from opsportal.exports import escape_formula

from .models import (
    AffiliateProfile,
    Commission,
    ImportJob,
    Member,
    Membership,
    Order,
    Product,
    ReviewItem,
)
from .resources import MemberResource, OrderResource


class EscapingExportMixin(ExportMixin):
    """Exports escape every formula-looking cell (= + - @ tab CR), not only a leading '='."""

    def get_data_for_export(self, request, queryset, **kwargs):
        dataset = super().get_data_for_export(request, queryset, **kwargs)
        escaped = tablib.Dataset(headers=dataset.headers, title=dataset.title)
        for row in dataset:
            escaped.append([escape_formula(v) for v in row])
        return escaped


@admin.register(Member)
class MemberAdmin(EscapingExportMixin, ReadOnlyAdmin):
    resource_classes = [MemberResource]
    list_display = ("email", "phone", "name", "group", "job")
    search_fields = ("email", "phone", "name")


@admin.register(Order)
class OrderAdmin(EscapingExportMixin, ReadOnlyAdmin):
    resource_classes = [OrderResource]
    list_display = ("inv", "member", "product", "total", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("inv", "member__email")
    list_select_related = ("member", "product")


for model in (ImportJob, Product, AffiliateProfile, Commission, Membership, ReviewItem):
    admin.site.register(model, ReadOnlyAdmin)
