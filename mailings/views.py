"""Campaign pages (thin: forms parse, services decide) and the public unsubscribe page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import DetailView, ListView

from imports.models import ImportJob
from opsportal.generic import ServiceFormView
from opsportal.security import ascii_int

from . import rendering, services
from .choices import CampaignStatus, RecipientStatus
from .forms import CampaignForm
from .models import Campaign, Recipient

SETTLED = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED, CampaignStatus.PAUSED,
           CampaignStatus.FAILED)  # fmt: skip


class CampaignListView(PermissionRequiredMixin, ListView):
    permission_required = "mailings.view_campaign"
    queryset = Campaign.objects.select_related("job", "product", "created_by")
    template_name = "mailings/campaign_list.html"
    paginate_by = 25


class CampaignCreateView(ServiceFormView):
    permission_required = "mailings.add_campaign"
    form_class = CampaignForm
    template_name = "mailings/campaign_form.html"
    title = "New welcome e-mail"

    def get_initial(self):
        initial = {
            "subject_template": "Welcome, {{ first_name|default:'member' }}",
            "body_template": (
                "Hello {{ first_name|default:name }},\n\nYour account has moved to our new "
                "platform. Sign in with {{ email }}.\n\nUnsubscribe: {{ unsubscribe_url }}\n"
            ),
        }
        job = ascii_int(self.request.GET.get("job", ""))
        if job and ImportJob.objects.filter(pk=job).exists():
            initial["job"] = job
            initial["name"] = f"Welcome: import #{job}"
        return initial

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["fields"] = rendering.FIELDS
        return ctx

    def call_service(self, form):
        return services.campaign_create(actor=self.request.user, **form.cleaned_data)

    def after_service(self, result):
        messages.success(self.request, "Campaign saved as a draft: check the preview.")
        return redirect(result)


class CampaignUpdateView(ServiceFormView):
    permission_required = "mailings.add_campaign"
    form_class = CampaignForm
    template_name = "mailings/campaign_form.html"
    title = "Edit welcome e-mail"

    def dispatch(self, request, *args, **kwargs):
        self.campaign = get_object_or_404(Campaign, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "editing": True}

    def get_initial(self):
        return {k: getattr(self.campaign, k) for k in services.EDITABLE}

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["fields"] = rendering.FIELDS
        ctx["campaign"] = self.campaign
        return ctx

    def call_service(self, form):
        data = dict(form.cleaned_data)
        data["rate"] = self.campaign.rate if data["rate"] is None else data["rate"]
        data["batch_size"] = data["batch_size"] or self.campaign.batch_size
        return services.campaign_update(actor=self.request.user, campaign=self.campaign, **data)


class CampaignDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "mailings.view_campaign"
    queryset = Campaign.objects.select_related("job", "product", "created_by")
    template_name = "mailings/campaign_detail.html"
    context_object_name = "campaign"

    def _polling(self) -> bool:
        return bool(self.request.headers.get("HX-Request")) and (
            self.request.GET.get("part") == "progress"
        )

    def get_template_names(self):
        return ["mailings/_progress.html"] if self._polling() else [self.template_name]

    def render_to_response(self, context, **kwargs):
        response = super().render_to_response(context, **kwargs)
        if self._polling() and self.object.status in SETTLED:
            response["HX-Refresh"] = "true"
        return response

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        if self._polling():
            return ctx
        campaign = self.object
        ctx["figures"] = services.figures(campaign)
        ctx["stalled"] = services.is_stalled(campaign)
        if campaign.status == CampaignStatus.DRAFT:
            try:
                ctx["preview"] = services.campaign_preview(
                    actor=self.request.user, campaign=campaign, limit=5
                )
            except ValidationError as exc:
                ctx["preview_error"] = " ".join(exc.messages)
        status = self.request.GET.get("status", "")
        shown = Recipient.objects.filter(campaign=campaign).order_by("pk")
        if status in RecipientStatus.values:
            shown = shown.filter(status=status)
        ctx["status_filter"] = status
        ctx["statuses"] = RecipientStatus.choices
        ctx["recipients"] = shown.only(
            "pk", "email", "status", "skip_reason", "attempts", "sent_at", "error", "campaign_id"
        )[:100]
        return ctx


class _Action(PermissionRequiredMixin, View):
    permission_required = "mailings.send_campaign"
    done = ""

    def get(self, request, pk):
        return redirect(get_object_or_404(Campaign, pk=pk))

    def post(self, request, pk):
        campaign = get_object_or_404(Campaign, pk=pk)
        try:
            self.act(request, campaign)
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            if self.done:
                messages.success(request, self.done)
        return redirect(campaign)


class DryRunView(_Action):
    permission_required = "mailings.add_campaign"
    done = "Dry run done: nothing was sent."

    def act(self, request, campaign):
        services.campaign_dry_run(actor=request.user, campaign=campaign)


class StartView(_Action):
    done = "Sending started on the imports worker."

    def act(self, request, campaign):
        if request.POST.get("confirm", "").strip() != str(campaign.pk):
            raise ValidationError(f"Type the campaign number ({campaign.pk}) to send.")
        services.campaign_start(actor=request.user, campaign=campaign)


class PauseView(_Action):
    done = "Paused after the batch in flight."

    def act(self, request, campaign):
        services.campaign_pause(
            actor=request.user, campaign=campaign, reason=request.POST.get("reason", "")
        )


class ResumeView(_Action):
    done = "Resumed."

    def act(self, request, campaign):
        services.campaign_resume(actor=request.user, campaign=campaign)


class CancelView(_Action):
    done = "Cancelled."

    def act(self, request, campaign):
        services.campaign_cancel(
            actor=request.user, campaign=campaign, reason=request.POST.get("reason", "")
        )


class RequeueUnknownView(_Action):
    done = "The unknown messages are queued again: resume to send them."

    def act(self, request, campaign):
        services.campaign_requeue_unknown(
            actor=request.user, campaign=campaign, reason=request.POST.get("reason", "")
        )


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class UnsubscribeView(View):
    """Public: GET asks, POST (the page's button, or a mail client's RFC 8058 one-click POST)
    records. The signed token is the only credential; a link scanner's GET changes nothing."""

    template_name = "mailings/unsubscribe.html"

    def get(self, request, token):
        return render(request, self.template_name, {"token": token, "done": False})

    def post(self, request, token):
        try:
            services.recipient_unsubscribe(token=token)
        except ValidationError as exc:
            return render(
                request, self.template_name, {"error": " ".join(exc.messages)}, status=400
            )
        return render(request, self.template_name, {"done": True})
