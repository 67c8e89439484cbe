"""Sejoli order sync pages and the shops' endpoint. Thin: ``payload`` reads, ``services`` write."""

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import DetailView, ListView

from notifications.crypto import KeyMissing
from opsportal.forms import BootstrapFormMixin
from opsportal.generic import ServiceFormView

from . import payload, services
from .choices import REPLAYABLE, DeliveryState, RefusalReason
from .models import Delivery, RefusedDelivery, ShopHook

logger = logging.getLogger(__name__)


# --- the shops' endpoint -------------------------------------------------------------------------
def _ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class HookReceiveView(View):
    """A shop's post. The token in the path (and the signature, when the hook has a signing
    secret) is the authorisation: no session, no CSRF token. Answers 202 once logged."""

    http_method_names = ["post"]

    def refuse(self, hook, reason, status, detail):
        services.delivery_refuse(hook=hook, reason=reason, ip=_ip(self.request))
        return JsonResponse({"detail": detail}, status=status)

    def post(self, request, token):
        hook = services.hook_for_token(token)
        if hook is None:
            return self.refuse(None, RefusalReason.UNKNOWN_TOKEN, 404, "Not found.")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = payload.MAX_BODY + 1
        if length > payload.MAX_BODY:
            return self.refuse(hook, RefusalReason.TOO_LARGE, 413, "Body too large.")
        body = request.body
        if hook.signed:
            try:
                secret = services.hook_signing_secret(hook)
            except KeyMissing:
                logger.error("Sejoli hook %s: its signing secret cannot be decrypted", hook.pk)
                return JsonResponse({"detail": "Not configured."}, status=503)
            header = payload.signature_header(request.headers)
            if not payload.signature_ok(secret, body, header):
                return self.refuse(hook, RefusalReason.BAD_SIGNATURE, 401, "Bad signature.")
        content_type = request.content_type or ""
        if b"\x00" in body:  # the raw log is text, and PostgreSQL keeps no NUL in text
            return self.refuse(hook, RefusalReason.UNREADABLE, 400, "Send text without NUL bytes.")
        try:
            if content_type == "multipart/form-data":
                fields = payload.read_pairs(request.POST.items())
            else:
                fields = payload.read_body(body, content_type)
        except payload.Unreadable:
            return self.refuse(hook, RefusalReason.UNREADABLE, 400, "Send JSON or form fields.")
        delivery = services.delivery_receive(
            hook=hook,
            fields=fields,
            raw=body.decode("utf-8", "replace"),
            content_type=request.META.get("CONTENT_TYPE", ""),
        )
        return JsonResponse({"delivery": delivery.pk, "state": delivery.state}, status=202)


# --- pages ---------------------------------------------------------------------------------------
class HookListView(PermissionRequiredMixin, ListView):
    permission_required = "sejolisync.view_shophook"
    template_name = "sejolisync/hook_list.html"
    context_object_name = "hooks"
    paginate_by = 50

    def get_queryset(self):
        return ShopHook.objects.annotate(
            queued=Count("deliveries", filter=Q(deliveries__state=DeliveryState.QUEUED)),
            failed=Count(
                "deliveries",
                filter=Q(deliveries__state__in=[DeliveryState.FAILED, DeliveryState.INVALID]),
            ),
            total=Count("deliveries"),
        ).order_by("name")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["status"] = services.sync_status()
        ctx["refusals"] = RefusedDelivery.objects.select_related("hook")[:20]
        return ctx


class HookDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "sejolisync.view_shophook"
    model = ShopHook
    template_name = "sejolisync/hook_detail.html"
    context_object_name = "hook"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        hook = self.object
        state = self.request.GET.get("state", "")
        deliveries = hook.deliveries.all()
        if state in DeliveryState.values:
            deliveries = deliveries.filter(state=state)
        ctx["deliveries"] = deliveries.only(
            "pk", "hook_id", "received_at", "order_ref", "status", "state", "outcome", "attempts"
        )[:100]
        ctx["failures"] = hook.deliveries.filter(
            state__in=[DeliveryState.FAILED, DeliveryState.INVALID]
        ).only("pk", "hook_id", "received_at", "order_ref", "status", "state", "outcome", "error")[
            :50
        ]
        counts = dict(
            hook.deliveries.values("state").annotate(n=Count("pk")).values_list("state", "n")
        )
        ctx["counts"] = [(s.value, s.label, counts.get(s.value, 0)) for s in DeliveryState]
        ctx["state"] = state
        ctx["refusals"] = hook.refusals.all()[:20]
        ctx["can_replay"] = self.request.user.has_perm("sejolisync.replay_delivery")
        ctx["can_switch"] = self.request.user.has_perm("sejolisync.change_shophook")
        return ctx


class DeliveryDetailView(PermissionRequiredMixin, DetailView):
    permission_required = "sejolisync.view_delivery"
    model = Delivery
    template_name = "sejolisync/delivery_detail.html"
    context_object_name = "delivery"

    def get_queryset(self):
        return Delivery.objects.select_related("hook")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["can_see_payload"] = self.request.user.has_perm("sejolisync.read_delivery_payload")
        ctx["can_replay"] = (
            self.request.user.has_perm("sejolisync.replay_delivery")
            and self.object.state in REPLAYABLE
        )
        return ctx


class ReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(max_length=500, required=False, widget=forms.TextInput)


class DeliveryReplayView(PermissionRequiredMixin, View):
    permission_required = "sejolisync.replay_delivery"
    http_method_names = ["post"]

    def post(self, request, pk):
        delivery = get_object_or_404(Delivery, pk=pk)
        form = ReasonForm(request.POST)
        reason = form.cleaned_data["reason"] if form.is_valid() else ""
        try:
            services.delivery_replay(actor=request.user, delivery=delivery, reason=reason)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"Delivery #{delivery.pk} queued again.")
        return redirect(delivery)


class HookReplayFailuresView(PermissionRequiredMixin, View):
    permission_required = "sejolisync.replay_delivery"
    http_method_names = ["post"]

    def post(self, request, pk):
        hook = get_object_or_404(ShopHook, pk=pk)
        try:
            n = services.delivery_replay_failures(actor=request.user, hook=hook)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, f"{n} failed deliveries queued again.")
        return redirect(hook)


class SwitchForm(BootstrapFormMixin, forms.Form):
    processing = forms.BooleanField(
        required=False,
        label="Process deliveries",
        help_text="Off once Sejoli is switched off: deliveries are still logged, marked skipped.",
    )
    reason = forms.CharField(
        max_length=500, help_text="Why (kept in the audit log).", widget=forms.TextInput
    )


class HookSwitchView(ServiceFormView):
    permission_required = "sejolisync.change_shophook"
    form_class = SwitchForm
    template_name = "sejolisync/form.html"

    def dispatch(self, request, *args, **kwargs):
        self.hook = get_object_or_404(ShopHook, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Processing of {self.hook}"

    def get_initial(self):
        return {"processing": self.hook.processing}

    def call_service(self, form):
        return services.hook_switch(
            actor=self.request.user,
            hook=self.hook,
            processing=form.cleaned_data["processing"],
            reason=form.cleaned_data["reason"],
        )
