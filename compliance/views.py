"""Pages of rotation campaigns and access reviews; every write is one service call."""

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import DetailView, TemplateView

from environments.models import ConfigVar
from opsportal.exports import stream_csv
from opsportal.generic import ServiceFormView

from . import report, reviews, services
from .forms import CampaignForm, CloseForm, DecideForm, ReviewStartForm, WaiveForm
from .models import AccessReview, AccessReviewLine, RotationCampaign, RotationItem

PERM_READ_CAMPAIGN = "environments.view_configvar"


def _errors(request, exc) -> None:
    for message in getattr(exc, "messages", None) or [str(exc)]:
        messages.error(request, message)


class IndexView(PermissionRequiredMixin, TemplateView):
    permission_required = PERM_READ_CAMPAIGN
    template_name = "compliance/index.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["campaigns"] = RotationCampaign.objects.with_progress().select_related("owner")[:50]
        if self.request.user.has_perm(services.PERM_REVIEW):
            ctx["reviews"] = AccessReview.objects.select_related("started_by", "completed_by")[:20]
            start, end = reviews.default_period()
            ctx["review_form"] = ReviewStartForm(initial={"period_start": start, "period_end": end})
        return ctx


class CampaignCreateView(ServiceFormView):
    permission_required = services.PERM_CAMPAIGN
    form_class = CampaignForm
    template_name = "compliance/form.html"
    title = "New rotation campaign"

    def get_initial(self):
        initial = {"owner": self.request.user.pk}
        for name in ("scope", "environment", "project", "kind", "user"):
            if self.request.GET.get(name):
                initial[name] = self.request.GET[name]
        return initial

    def call_service(self, form):
        return services.rotation_campaign_create(actor=self.request.user, **form.cleaned_data)

    def after_service(self, result):
        messages.success(self.request, f"Campaign started: {result.items.count()} variable(s).")
        return redirect(result)


class CampaignFromFindingView(PermissionRequiredMixin, View):
    """The one click on a rotation-overdue finding."""

    permission_required = services.PERM_CAMPAIGN

    def post(self, request, pk):
        var = get_object_or_404(ConfigVar.objects.select_related("environment__project"), pk=pk)
        try:
            campaign = services.rotation_campaign_from_finding(actor=request.user, configvar=var)
        except ValidationError as exc:
            _errors(request, exc)
            return redirect(var.environment)
        messages.success(request, f"Campaign started for {var.key}.")
        return redirect(campaign)


class CampaignDetailView(PermissionRequiredMixin, DetailView):
    permission_required = PERM_READ_CAMPAIGN
    model = RotationCampaign
    template_name = "compliance/campaign_detail.html"
    context_object_name = "campaign"

    def get_queryset(self):
        return RotationCampaign.objects.select_related("owner", "created_by", "closed_by")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        rows = report.item_rows(self.object)
        ctx["rows"] = rows
        ctx["counts"] = report.counts(rows)
        ctx["can_write"] = self.request.user.has_perm(services.PERM_CAMPAIGN)
        return ctx


class ItemWaiveView(PermissionRequiredMixin, View):
    permission_required = services.PERM_CAMPAIGN

    def post(self, request, pk, item):
        item = get_object_or_404(
            RotationItem.objects.select_related("campaign"), pk=item, campaign_id=pk
        )
        form = WaiveForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Say why this variable is not rotated.")
            return redirect(item.campaign)
        try:
            services.rotation_item_waive(
                actor=request.user, item=item, reason=form.cleaned_data["reason"]
            )
            messages.success(request, f"{item.key} waived.")
        except ValidationError as exc:
            _errors(request, exc)
        return redirect(item.campaign)


class CampaignCloseView(PermissionRequiredMixin, View):
    permission_required = services.PERM_CAMPAIGN

    def post(self, request, pk):
        campaign = get_object_or_404(RotationCampaign, pk=pk)
        form = CloseForm(request.POST)
        form.is_valid()
        try:
            services.rotation_campaign_close(
                actor=request.user, campaign=campaign, note=form.cleaned_data.get("note", "")
            )
            messages.success(request, "Campaign closed.")
        except ValidationError as exc:
            _errors(request, exc)
        return redirect(campaign)


class CampaignExportView(PermissionRequiredMixin, View):
    permission_required = PERM_READ_CAMPAIGN

    def get(self, request, pk, fmt):
        campaign = get_object_or_404(
            RotationCampaign.objects.select_related("owner", "created_by", "closed_by"), pk=pk
        )
        name = f"rotation-campaign-{campaign.pk}"
        if fmt == "md":
            response = HttpResponse(
                report.campaign_markdown(campaign), content_type="text/markdown; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.md"'
            return response
        if fmt == "csv":
            response = StreamingHttpResponse(
                stream_csv(report.campaign_csv_rows(campaign)), content_type="text/csv"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return response
        raise Http404("Unknown format")


# --- Access reviews ------------------------------------------------------------------------------
class ReviewStartView(PermissionRequiredMixin, View):
    permission_required = services.PERM_REVIEW

    def post(self, request):
        form = ReviewStartForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Give the period's first and last day.")
            return redirect("compliance:index")
        try:
            review = services.access_review_start(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            _errors(request, exc)
            return redirect("compliance:index")
        return redirect(review)


class ReviewDetailView(PermissionRequiredMixin, DetailView):
    permission_required = services.PERM_REVIEW
    model = AccessReview
    template_name = "compliance/review_detail.html"
    context_object_name = "review"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        review = self.object
        lines = report.review_lines(review)
        for line in lines:
            line.audit_url = reviews.audit_url(
                line.user_id or 0, review.period_start, review.period_end
            )
            line.areas = [
                (
                    a,
                    n,
                    reviews.audit_url(line.user_id or 0, review.period_start, review.period_end, a),
                )
                for a, n in sorted((line.activity or {}).items())
            ]
            line.is_me = line.user_id == self.request.user.pk
        ctx["lines"] = lines
        ctx["pending"] = sum(line.decision == "pending" for line in lines)
        return ctx


class LineDecideView(PermissionRequiredMixin, View):
    permission_required = services.PERM_REVIEW

    def post(self, request, pk, line):
        line = get_object_or_404(
            AccessReviewLine.objects.select_related("review", "user"), pk=line, review_id=pk
        )
        form = DecideForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose keep or revoke.")
            return redirect(line.review)
        try:
            services.access_review_decide(actor=request.user, line=line, **form.cleaned_data)
            messages.success(request, f"{line.username}: {form.cleaned_data['decision']}.")
        except (ValidationError, PermissionDenied) as exc:
            _errors(request, exc)
        return redirect(line.review)


class ReviewCompleteView(PermissionRequiredMixin, View):
    permission_required = services.PERM_REVIEW

    def post(self, request, pk):
        review = get_object_or_404(AccessReview, pk=pk)
        try:
            services.access_review_complete(actor=request.user, review=review)
            messages.success(request, "Review completed and signed.")
        except (ValidationError, PermissionDenied) as exc:
            _errors(request, exc)
        return redirect(review)


class ReviewExportView(PermissionRequiredMixin, View):
    permission_required = services.PERM_REVIEW

    def get(self, request, pk, fmt):
        review = get_object_or_404(AccessReview.objects.select_related("completed_by"), pk=pk)
        name = f"access-review-{review.pk}"
        if fmt == "md":
            body = (
                report.signed_markdown(review)
                if review.report_sha256
                else report.review_markdown(review)
            )
            response = HttpResponse(body, content_type="text/markdown; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{name}.md"'
            return response
        if fmt == "csv":
            response = StreamingHttpResponse(
                stream_csv(report.review_csv_rows(review)), content_type="text/csv"
            )
            response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
            return response
        raise Http404("Unknown format")
