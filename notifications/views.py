from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.generic import FormView, ListView, TemplateView

from opsportal.generic import ServiceFormView, add_service_errors
from opsportal.security import ascii_int

from . import crypto, dashboard, queue, registry, services
from .forms import ChannelForm, PreferencesForm
from .models import Channel, Delivery, DeliveryStatus, Preference


class WaitingView(TemplateView):
    """Everything waiting for this user's action, each linking to where it is done."""

    template_name = "notifications/waiting.html"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["items"] = queue.collect(self.request.user)
        return ctx


def _fragment(html: str) -> HttpResponse:
    response = HttpResponse(html)
    response["Cache-Control"] = "no-store"
    return response


# Fragments htmx fetches into a page: after the session ended they answer empty rather than
# with the login page (which htmx would swap into the navigation).
@method_decorator(login_not_required, name="dispatch")
class WaitingCountView(View):
    """The navigation's count, fetched by htmx once per page (the page's own queries stay)."""

    def get(self, request):
        if not request.user.is_authenticated:
            return _fragment("")
        html = render_to_string(
            "notifications/_waiting_count.html", {"count": queue.count(request.user)}, request
        )
        return _fragment(html)


@method_decorator(login_not_required, name="dispatch")
class WaitingPanelView(View):
    """The dashboard's first panel: what waits for this user, or nothing at all."""

    def get(self, request):
        panel = dashboard.queue_panel(request.user) if request.user.is_authenticated else None
        if panel is None:
            return _fragment("")
        return _fragment(
            render_to_string("notifications/_dashboard_queue.html", {"panel": panel}, request)
        )


class PreferencesView(FormView):
    template_name = "notifications/preferences.html"
    form_class = PreferencesForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["current"] = dict(
            Preference.objects.filter(user=self.request.user).values_list("event", "mode")
        )
        return kwargs

    def form_valid(self, form):
        user = self.request.user
        try:
            modes = {event: mode for event, mode in form.cleaned_data.items() if mode}
            changed = services.preferences_update(actor=user, user=user, modes=modes)
        except ValidationError as exc:
            add_service_errors(form, exc)
            return self.form_invalid(form)
        messages.success(
            self.request, f"Saved ({len(changed)} change{'s' if len(changed) != 1 else ''})."
        )
        return redirect("notifications:preferences")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["email"] = self.request.user.email
        ctx["digest_hour"] = settings.NOTIFY_DIGEST_HOUR
        return ctx


# --- channels (admins) -------------------------------------------------------------------------
class ChannelListView(PermissionRequiredMixin, ListView):
    permission_required = "notifications.view_channel"
    template_name = "notifications/channel_list.html"
    paginate_by = 50

    def get_queryset(self):
        return (
            Channel.objects.select_related("project")
            .annotate(sent=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SENT)))
            .order_by("name", "pk")
        )

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["key_configured"] = crypto.configured()
        ctx["labels"] = {k: e.label for k, e in registry.event_types().items()}
        return ctx


class ChannelCreateView(ServiceFormView):
    permission_required = "notifications.add_channel"
    form_class = ChannelForm
    template_name = "notifications/channel_form.html"
    title = "Add a chat channel"

    def get_initial(self):
        return {"enabled": True}

    def call_service(self, form):
        d = form.cleaned_data
        return services.channel_create(
            actor=self.request.user,
            name=d["name"],
            kind=d["kind"],
            url=d["url"],
            project=d["project"],
            events=d["events"],
            enabled=d["enabled"],
        )

    def after_service(self, result):
        messages.success(self.request, f"Channel {result.name} added: send it a test message.")
        return redirect("notifications:channel_list")


class ChannelUpdateView(ServiceFormView):
    permission_required = "notifications.change_channel"
    form_class = ChannelForm
    template_name = "notifications/channel_form.html"
    title = "Edit a chat channel"

    def dispatch(self, request, *args, **kwargs):
        self.channel = get_object_or_404(Channel, pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "channel": self.channel}

    def get_initial(self):
        c = self.channel
        return {
            "name": c.name,
            "kind": c.kind,
            "project": c.project_id,
            "events": c.events,
            "enabled": c.enabled,
        }

    def call_service(self, form):
        d = form.cleaned_data
        return services.channel_update(
            actor=self.request.user,
            channel=self.channel,
            name=d["name"],
            kind=d["kind"],
            url=d["url"],
            project=d["project"],
            events=d["events"],
            enabled=d["enabled"],
        )

    def after_service(self, result):
        messages.success(self.request, f"Channel {result.name} saved.")
        return redirect("notifications:channel_list")

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "channel": self.channel}


class ChannelDeleteView(PermissionRequiredMixin, View):
    permission_required = "notifications.delete_channel"

    def post(self, request, pk):
        channel = get_object_or_404(Channel, pk=pk)
        services.channel_delete(actor=request.user, channel=channel)
        messages.success(request, f"Channel {channel.name} deleted; its delivery log stays.")
        return redirect("notifications:channel_list")


class ChannelTestView(PermissionRequiredMixin, View):
    permission_required = "notifications.change_channel"

    def post(self, request, pk):
        channel = get_object_or_404(Channel, pk=pk)
        delivery = services.channel_test(actor=request.user, channel=channel)
        if delivery.status == DeliveryStatus.SENT:
            messages.success(request, f"Test message sent to {channel.name}.")
        else:
            messages.error(
                request, f"The test message to {channel.name} failed: {delivery.last_error}"
            )
        return redirect("notifications:channel_list")


# --- the delivery log (admins) -----------------------------------------------------------------
class DeliveryLogView(PermissionRequiredMixin, ListView):
    permission_required = "notifications.view_delivery"
    template_name = "notifications/delivery_log.html"
    paginate_by = 50

    def get_queryset(self):
        qs = Delivery.objects.select_related("notification", "channel", "recipient").order_by("-pk")
        get = self.request.GET
        self.filters = {
            "status": get.get("status", ""),
            "event": get.get("event", ""),
            "channel": get.get("channel", ""),
            "notification": get.get("notification", ""),
        }
        if self.filters["status"] in DeliveryStatus.values:
            qs = qs.filter(status=self.filters["status"])
        if self.filters["event"]:
            qs = qs.filter(notification__event=self.filters["event"])
        channel, notification = (
            ascii_int(self.filters["channel"]),
            ascii_int(self.filters["notification"]),
        )
        if self.filters["channel"] == "email":
            qs = qs.filter(channel__isnull=True)
        elif channel is not None:
            qs = qs.filter(channel_id=channel)
        if notification is not None:
            qs = qs.filter(notification_id=notification)
        return qs

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["filters"] = self.filters
        ctx["statuses"] = DeliveryStatus.choices
        ctx["events"] = [(k, e.label) for k, e in registry.event_types().items()]
        ctx["channels"] = Channel.objects.order_by("name")
        ctx["query"] = "&".join(f"{k}={v}" for k, v in self.filters.items() if v)
        return ctx


class DeliveryRetryView(PermissionRequiredMixin, View):
    permission_required = "notifications.change_delivery"

    def post(self, request, pk):
        delivery = get_object_or_404(Delivery, pk=pk)
        try:
            delivery = services.delivery_retry(actor=request.user, delivery=delivery)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.info(
                request, f"Delivery #{delivery.pk}: {delivery.get_status_display().lower()}."
            )
        return redirect(
            f"{reverse('notifications:delivery_log')}?notification={delivery.notification_id}"
        )
