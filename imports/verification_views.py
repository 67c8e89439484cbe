"""Sample verification pages: start from a job, the sample, one member's sources beside what
was stored (correct / wrong), complete, the signed report (HTML, Markdown, CSV). Thin: every
write is one call of ``services.verification_*``."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import DetailView, ListView

from opsportal.generic import ServiceFormView, add_service_errors

from . import services, verification
from .choices import SampleMark, VerificationStatus
from .models import ImportJob, SampleVerification, SampleVerificationItem
from .verification_forms import MarkForm, VerificationStartForm

PERM_VIEW = "imports.view_sampleverification"


class VerificationStartView(ServiceFormView):
    """Start a verification of a completed job (and, optionally, others with it)."""

    permission_required = services.PERM_VERIFY
    form_class = VerificationStartForm
    template_name = "imports/verification_start.html"
    error_fields = {"jobs": "also"}

    @cached_property
    def job(self):
        return get_object_or_404(ImportJob, pk=self.kwargs["pk"])

    @property
    def title(self):
        return f"Verify a sample of import #{self.job.pk}"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "job": self.job}

    def get_context_data(self, **kwargs):
        return super().get_context_data(job=self.job, **kwargs)

    def call_service(self, form):
        return services.verification_start(
            actor=self.request.user,
            jobs=[self.job, *form.cleaned_data["also"]],
            size=form.cleaned_data["size"],
            seed=form.cleaned_data["seed"],
        )

    def after_service(self, result):
        messages.success(
            self.request,
            f"Drawing a sample of {result.size} members with seed {result.seed} on the imports "
            "worker.",
        )
        return redirect(result)


class VerificationListView(PermissionRequiredMixin, ListView):
    permission_required = PERM_VIEW
    template_name = "imports/verification_list.html"
    paginate_by = 25
    queryset = SampleVerification.objects.select_related("started_by", "completed_by")


class VerificationPanelView(PermissionRequiredMixin, View):
    """The dashboard's panel: the open verifications, then the latest completed (one query)."""

    permission_required = PERM_VIEW

    def get(self, request):
        latest = list(
            SampleVerification.objects.order_by("-status", "-pk").only(
                "pk", "seed", "status", "correct_count", "wrong_count"
            )[:5]
        )
        ctx = {"panel": {"verifications": latest}}
        return render(request, "imports/_verification_panel.html", ctx)


class VerificationDetailView(PermissionRequiredMixin, DetailView):
    """The sample: every member with its mark; complete; the report once completed."""

    permission_required = PERM_VIEW
    template_name = "imports/verification_detail.html"
    context_object_name = "verification"
    queryset = SampleVerification.objects.select_related("started_by", "completed_by")

    def get(self, request, *args, **kwargs):
        if request.GET.get("part") == "drawing":
            # polled while the worker draws the sample: the same fragment, then a full reload
            ver = get_object_or_404(
                SampleVerification.objects.only("pk", "status", "started_at"), pk=kwargs["pk"]
            )
            if ver.status != VerificationStatus.DRAWING:
                response = HttpResponse(status=204)
                response["HX-Refresh"] = "true"
                return response
            return render(
                request,
                "imports/_verification_drawing.html",
                {"verification": ver, "stuck": services.draw_is_stuck(ver)},
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ver = self.object
        if ver.status in (VerificationStatus.DRAWING, VerificationStatus.FAILED):
            ctx.update(jobs=list(ver.jobs.order_by("pk")), items=[], total=0, percent=0)
            ctx["stuck"] = services.draw_is_stuck(ver)
            return ctx
        items = ver.items.select_related("marked_by").only(
            "verification_id", "position", "member_label", "mark", "note", "marked_by",
            "marked_at", "review_item_id", "marked_by__username",
        )  # fmt: skip
        page = Paginator(items, 100).get_page(self.request.GET.get("page"))
        total = ver.items.count()
        ctx.update(
            jobs=list(ver.jobs.order_by("pk")),
            page_obj=page,
            is_paginated=page.has_other_pages(),
            items=page.object_list,
            total=total,
            pending=total - ver.checked_count,
            percent=int(ver.checked_count * 100 / total) if total else 0,
            signature_ok=verification.signature_ok(ver)
            if ver.status == VerificationStatus.COMPLETED
            else None,
            next_pending=ver.items.filter(mark=SampleMark.PENDING)
            .values_list("position", flat=True)
            .first(),
        )
        return ctx


class VerificationItemView(PermissionRequiredMixin, View):
    """One member: its source rows beside what was stored, and the correct / wrong buttons."""

    permission_required = PERM_VIEW
    template_name = "imports/verification_item.html"

    def _item(self, pk, position) -> SampleVerificationItem:
        return get_object_or_404(
            SampleVerificationItem.objects.select_related("verification", "marked_by"),
            verification_id=pk,
            position=position,
        )

    def get(self, request, pk, position, form=None, status=200):
        item = self._item(pk, position)
        jobs = {
            j.pk: j for j in ImportJob.objects.filter(pk__in={s.get("job") for s in item.sources})
        }
        sources = []
        for s in item.sources:
            job = jobs.get(s.get("job"))
            cells = verification.columns_of(job.kind if job else "", s.get("values") or {})
            sources.append({**s, "job_obj": job, "cells": cells})
        total = item.verification.items.count()
        ctx = {
            "item": item,
            "verification": item.verification,
            "sources": sources,
            "stored": item.stored,
            "form": form or MarkForm(initial={"note": item.note}),
            "previous": position - 1 if position > 1 else None,
            "next": position + 1 if position < total else None,
            "total": total,
            "can_mark": request.user.has_perm(services.PERM_MARK)
            and item.verification.status == VerificationStatus.OPEN
            and item.mark != SampleMark.WRONG,
        }
        return render(request, self.template_name, ctx, status=status)


class VerificationMarkView(PermissionRequiredMixin, View):
    permission_required = services.PERM_MARK

    def get(self, request, pk, position):
        return redirect("imports:verification_item", pk, position)

    def post(self, request, pk, position):
        item = get_object_or_404(SampleVerificationItem, verification_id=pk, position=position)
        form = MarkForm(request.POST)
        if form.is_valid():
            try:
                services.verification_item_mark(
                    actor=request.user, item=item, mark=form.cleaned_data["mark"],
                    note=form.cleaned_data["note"],
                )  # fmt: skip
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                mark = form.cleaned_data["mark"]
                text = f"#{position} {item.member_label}: {mark}"
                if mark == SampleMark.WRONG:
                    text += " (a review item is raised)"
                messages.success(request, text + ".")
                following = (
                    SampleVerificationItem.objects.filter(
                        verification_id=pk, mark=SampleMark.PENDING, position__gt=position
                    )
                    .values_list("position", flat=True)
                    .first()
                )
                if following:
                    return redirect("imports:verification_item", pk, following)
                return redirect("imports:verification_detail", pk)
        return VerificationItemView().get(request, pk, position, form=form, status=400)


class VerificationRedrawView(PermissionRequiredMixin, View):
    """Queue the draw again of a verification whose task was lost (stuck in "drawing")."""

    permission_required = services.PERM_VERIFY

    def post(self, request, pk):
        ver = get_object_or_404(SampleVerification, pk=pk)
        try:
            services.verification_redraw(actor=request.user, verification=ver)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The draw is queued again on the imports worker.")
        return redirect(ver)


class VerificationCompleteView(PermissionRequiredMixin, View):
    permission_required = services.PERM_MARK

    def get(self, request, pk):
        return redirect("imports:verification_detail", pk)

    def post(self, request, pk):
        ver = get_object_or_404(SampleVerification, pk=pk)
        try:
            ver = services.verification_complete(actor=request.user, verification=ver)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(ver)
        messages.success(request, f"Verification #{ver.pk} completed; its report is signed.")
        return redirect("imports:verification_report", pk)


class VerificationReportView(PermissionRequiredMixin, DetailView):
    """The signed report (HTML); ``report.md`` and ``report.csv`` download it."""

    permission_required = PERM_VIEW
    template_name = "imports/verification_report.html"
    context_object_name = "verification"
    queryset = SampleVerification.objects.filter(status=VerificationStatus.COMPLETED)

    def get(self, request, *args, **kwargs):
        fmt = kwargs.get("fmt")
        if fmt is None:
            return super().get(request, *args, **kwargs)
        if fmt not in ("md", "csv"):  # the file name is ours: never a name the URL chooses
            raise Http404("Reports are Markdown or CSV.")
        ver = self.get_object()
        if fmt == "md":
            body, ctype = verification.report_markdown(ver), "text/markdown; charset=utf-8"
        else:
            body, ctype = verification.report_csv(ver), "text/csv; charset=utf-8"
        response = HttpResponse(body, content_type=ctype)
        name = f"sample-verification-{ver.pk}.{fmt}"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["report"] = self.object.report
        ctx["signature_ok"] = verification.signature_ok(self.object)
        return ctx
