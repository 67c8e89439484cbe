import contextlib

import tablib
from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from import_export.admin import ExportMixin, ImportMixin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ImportForm

from opsportal.admin import ReadOnlyAdmin
from opsportal.exports import escape_formula

from .formats import XLSX_MAGIC, xlsx_check
from .layouts import admin_import
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
from .services import PERM_START


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


class AdminImportForm(ImportForm):
    """Refuses a file over the admin's cap before import-export reads it into memory, and an
    XLSX whose archive unpacks to more than the admin's cap before openpyxl opens it."""

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > admin_import.MAX_BYTES:
            raise forms.ValidationError(admin_import.too_large_message(size=upload.size))
        upload.seek(0)
        if upload.read(4) == XLSX_MAGIC:
            xlsx_check(upload, max_uncompressed=admin_import.MAX_UNCOMPRESSED)
        upload.seek(0)
        return upload


class JobConfirmImportForm(ConfirmImportForm):
    """Carries the previewed job to the confirm step."""

    job = forms.IntegerField(widget=forms.HiddenInput(), required=False, min_value=1)


@admin.register(ImportJob)
class ImportJobAdmin(ImportMixin, ReadOnlyAdmin):
    """The job list, with import-export's Import for small Sejoli files.

    The import goes through the job services (see ``layouts.admin_import``): the preview is a
    validated job, the confirm applies that job in the request, every step audited. Larger files
    use the job pages at /imports/."""

    resource_classes = admin_import.ADMIN_RESOURCES
    import_form_class = AdminImportForm
    confirm_form_class = JobConfirmImportForm
    import_template_name = "admin/imports/importjob/import.html"
    # the audit chain records the import (import.job.*); the admin's LogEntry would need the
    # model instances import-export never sees here
    skip_admin_log = True
    list_display = ("id", "kind", "original_name", "status", "total_rows", "rejected_count",
                    "created_by", "created_at")  # fmt: skip
    list_filter = ("status", "kind")
    search_fields = ("original_name", "sha256")

    def has_import_permission(self, request):
        return request.user.has_perm(PERM_START)

    def is_skip_import_confirm_enabled(self):
        return False  # the preview is the validated job an operator confirms

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "admin_import_max_rows": f"{admin_import.MAX_ROWS:,}",
            "admin_import_max_mb": admin_import.MAX_BYTES // 1_048_576,
            "admin_import_jobs_url": reverse("imports:job_upload"),
        }

    def get_import_formats(self):
        return [f for f in (base_formats.CSV, base_formats.XLSX) if f().can_import()]

    def get_import_data_kwargs(self, **kwargs):
        form = kwargs.get("form")
        job_id = getattr(form, "cleaned_data", {}).get("job")
        kwargs = super().get_import_data_kwargs(**kwargs)
        if job_id:
            kwargs["job_id"] = job_id
        return kwargs

    def import_action(self, request, **kwargs):
        response = super().import_action(request, **kwargs)
        context = getattr(response, "context_data", None) or {}
        job = getattr(context.get("result"), "job", None)
        confirm_form = context.get("confirm_form")
        if confirm_form is not None and job is not None:
            confirm_form.initial["job"] = job.pk
        elif confirm_form is None:
            self._discard_upload(context.get("form"))
        return response

    def process_import(self, request, **kwargs):
        try:
            return super().process_import(request, **kwargs)
        except FileNotFoundError:
            # import-export's temporary copy is removed once confirmed: a second submit of the
            # same confirm form (or a stale one) must not apply anything, nor fail with a 500
            messages.error(
                request,
                "This import was already confirmed, or its upload expired: nothing was applied. "
                "Upload the file again if it still needs importing.",
            )
            return HttpResponseRedirect(reverse("admin:imports_importjob_changelist"))

    def _discard_upload(self, form) -> None:
        """A refused file is not confirmed: remove import-export's temporary copy of it."""
        upload = getattr(form, "cleaned_data", {}).get("import_file")
        name = getattr(upload, "tmp_storage_name", None)
        if not name:
            return
        storage = self.get_tmp_storage_class()(name=name, **self.get_tmp_storage_class_kwargs())
        with contextlib.suppress(OSError):
            storage.remove()

    def add_success_message(self, result, request):
        job = getattr(result, "job", None)
        if result.has_errors():
            text = " ".join(str(e.error) for e in result.base_errors)
            messages.error(request, text)
            return
        messages.success(
            request,
            format_html(
                'Import job <a href="{}">#{}</a> completed: {} created, {} updated, {} unchanged, '
                "{} rejected.",
                job.get_absolute_url(),
                job.pk,
                job.created_count,
                job.updated_count,
                job.unchanged_count,
                job.rejected_count,
            ),
        )


for model in (Product, AffiliateProfile, Commission, Membership, ReviewItem):
    admin.site.register(model, ReadOnlyAdmin)
