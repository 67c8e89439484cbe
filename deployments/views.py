"""Pages of the deployment ledger, DORA figures, the environment timeline, and the provider
webhooks. Thin: forms read the query, services write, ``dora``/``timeline`` compute."""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import ValidationError
from django.http import JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import DetailView, ListView, TemplateView

from environments.choices import ChangeRequestStatus
from environments.models import ChangeRequest, Environment
from opsportal.audit.models import AuditEvent
from opsportal.exports import stream_csv
from opsportal.generic import ServiceFormView
from opsportal.pagination import KeysetPaginationMixin
from runbooks.models import Run

from . import charts, dora, services, timeline, webhooks
from .forms import DoraForm, LedgerFilterForm, RolledBackForm
from .lookups import environment_from_path
from .models import Deployment

logger = logging.getLogger(__name__)

VIEW_PERMISSION = "deployments.view_deployment"


# What a ledger row shows: reading only these keeps a page of 50 from parsing ~450 timestamps.
LEDGER_COLUMNS = (
    "id",
    "environment__name",
    "environment__tier",
    "environment__project__name",
    "sha",
    "ref",
    "status",
    "started_at",
    "finished_at",
    "provider",
    "source",
    "via_token_label",
    "triggered_by__username",
)


# --- ledger ---------------------------------------------------------------------------------------
class LedgerView(PermissionRequiredMixin, KeysetPaginationMixin, ListView):
    """Every deployment, newest recorded first, across projects or of one environment."""

    permission_required = VIEW_PERMISSION
    template_name = "deployments/ledger.html"
    keyset_field = "id"
    page_size = 50
    environment = None

    def get_queryset(self):
        params = _without_cursor(self.request.GET)
        if "pk" in self.kwargs:
            self.environment = get_object_or_404(
                Environment.objects.select_related("project"), pk=self.kwargs["pk"]
            )
            params["environment"] = str(self.environment.pk)
        self.filter_form = LedgerFilterForm(params or None)
        queryset = Deployment.objects.with_related().only(*LEDGER_COLUMNS)
        if self.filter_form.is_bound:
            queryset = self.filter_form.filter(queryset)
        return queryset

    def get_context_data(self, **kwargs):
        page = self.paginate_keyset(self.object_list)
        # Each row's links from two reversed prefixes, not two reverse() calls per row.
        base = reverse("deployments:ledger")
        return super().get_context_data(
            page=page,
            deployments=[_ledger_row(d, base) for d in page.items],
            filter_form=self.filter_form,
            environment=self.environment,
            noun="deployment",
            **kwargs,
        )


@dataclass(slots=True)
class LedgerRow:
    """A ledger row as the page shows it, formatted here: a template formatting 50 rows of
    dates, choices and links was most of the page's time."""

    pk: int
    url: str
    started_iso: str
    started: str
    environment_url: str
    environment: str
    tier: str
    tier_label: str
    short_sha: str
    ref: str
    status: str
    status_css: str
    status_label: str
    finished: str
    provider: str
    who: str


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def _ledger_row(d: Deployment, base: str) -> LedgerRow:
    env = d.environment
    return LedgerRow(
        pk=d.pk,
        url=f"{base}{d.pk}/",
        started_iso=d.started_at.isoformat(),
        started=_local(d.started_at),
        environment_url=f"{base}environments/{d.environment_id}/",
        environment=f"{env.project.name} / {env.name}",
        tier=env.tier,
        tier_label=env.get_tier_display(),
        short_sha=d.short_sha,
        ref=d.ref if len(d.ref) <= 40 else d.ref[:39] + "…",
        status=d.status,
        status_css=d.status_css,
        status_label=d.get_status_display(),
        finished=_local(d.finished_at),
        provider=d.get_provider_display(),
        who=d.triggered_label,
    )


def _without_cursor(params):
    params = params.copy()
    for name in ("before", "after", "page"):
        params.pop(name, None)
    return params


class DeploymentDetailView(PermissionRequiredMixin, DetailView):
    """A deployment, and what happened around it: configuration changes and change requests
    applied since the previous deployment of the environment, runbook runs that overlapped it."""

    permission_required = VIEW_PERMISSION
    queryset = Deployment.objects.with_related()
    template_name = "deployments/deployment_detail.html"
    context_object_name = "deployment"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        dep = self.object
        env = dep.environment
        previous = Deployment.objects.before(dep).only("pk", "sha", "started_at", "status").first()
        since = previous.started_at if previous else dep.started_at - timedelta(days=30)
        until = dep.started_at
        ctx["previous"] = previous
        ctx["since"], ctx["until"] = since, until
        ctx["config_events"] = list(
            AuditEvent.objects.filter(
                timeline.audit_filter(("config",)),
                environment_id=env.pk,
                at__gt=since,
                at__lte=until,
            )
            .select_related("actor")
            .order_by("-seq")[:100]
        )
        ctx["change_requests"] = list(
            ChangeRequest.objects.filter(
                environment=env,
                status=ChangeRequestStatus.APPLIED,
                decided_at__gt=since,
                decided_at__lte=until,
            )
            .select_related("author", "decided_by")
            .order_by("-decided_at")[:50]
        )
        window_end = dep.finished_at or timezone.now()
        ctx["window_end"] = window_end
        ctx["runs"] = list(
            Run.objects.with_related()
            .filter(environment=env, started_at__lte=window_end)
            .exclude(finished_at__lt=dep.started_at)
            .order_by("-started_at")[:50]
        )
        ctx["events"] = (
            AuditEvent.objects.filter(target_type="deployments.deployment", target_id=str(dep.pk))
            .select_related("actor")
            .order_by("seq")
        )
        ctx["can_roll_back"] = dep.status == "success" and self.request.user.has_perm(
            "deployments.change_deployment"
        )
        return ctx


class RolledBackView(ServiceFormView):
    permission_required = "deployments.change_deployment"
    form_class = RolledBackForm
    template_name = "deployments/form.html"

    def dispatch(self, request, *args, **kwargs):
        self.deployment = get_object_or_404(Deployment.objects.with_related(), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    @property
    def title(self):
        return f"Mark {self.deployment} as rolled back"

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        ctx["cancel_url"] = self.deployment.get_absolute_url()
        return ctx

    def call_service(self, form):
        return services.deployment_mark_rolled_back(
            actor=self.request.user, deployment=self.deployment, reason=form.cleaned_data["reason"]
        )

    def after_service(self, result):
        messages.success(self.request, f"{result} is marked rolled back.")
        return redirect(result)


# --- DORA -----------------------------------------------------------------------------------------
def _hours(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 3600


def _duration(value: float) -> str:
    if value >= 48:
        return f"{value / 24:.1f} d"
    if value >= 1:
        return f"{value:.1f} h"
    return f"{value * 60:.0f} min"


def _percent(value: float) -> str:
    return f"{value:.0f}"


class DoraMixin:
    def load(self):
        self.form = DoraForm(_without_cursor(self.request.GET) or None)
        if self.form.is_bound:
            self.form.is_valid()
        self.period = self.form.period()
        self.environments = self.form.environments()
        self.figures = dora.figures([e.pk for e in self.environments], self.period)
        return self.figures


class DoraView(PermissionRequiredMixin, DoraMixin, TemplateView):
    permission_required = VIEW_PERMISSION
    template_name = "deployments/dora.html"

    def get_context_data(self, **kwargs):
        figures = self.load()
        buckets = figures.buckets
        labels = [b.label for b in buckets]
        chart_data = [
            (
                "Deployment frequency",
                "deployments",
                [b.deployments for b in buckets],
                "",
                lambda v: f"{v:g}",
            ),
            (
                "Lead time for changes",
                "lead_time",
                [_hours(b.lead_time) for b in buckets],
                "",
                _duration,
            ),
            (
                "Change failure rate",
                "failure_rate",
                [None if b.failure_rate is None else b.failure_rate * 100 for b in buckets],
                " %",
                _percent,
            ),
            (
                "Time to restore",
                "restore_time",
                [_hours(b.restore_time) for b in buckets],
                "",
                _duration,
            ),
        ]
        charts_ = {
            css: charts.bar_chart(
                values,
                labels,
                title=f"{title} per {figures.bucket_name}",
                unit=unit,
                fmt=fmt,
                css_class=css,
            )
            for title, css, values, unit, fmt in chart_data
        }
        return super().get_context_data(
            form=self.form,
            figures=figures,
            period=self.period,
            environments=self.environments,
            charts=charts_,
            query=_without_cursor(self.request.GET).urlencode(),
            lead_time_h=_hours(figures.lead_time),
            restore_time_h=_hours(figures.restore_time),
            window_h=figures.rollback_window.total_seconds() / 3600,
            **kwargs,
        )


class DoraCsvView(PermissionRequiredMixin, DoraMixin, View):
    """The figures per bucket and in total, as CSV (every cell formula-escaped)."""

    permission_required = VIEW_PERMISSION

    def get(self, request):
        figures = self.load()
        names = ", ".join(str(e) for e in self.environments) or "(none)"

        def h(value):
            hours = _hours(value)
            return "" if hours is None else f"{hours:.2f}"

        def rate(value):
            return "" if value is None else f"{value * 100:.1f}"

        rows = [
            ["environments", names],
            ["period", self.period.first_day.isoformat(), self.period.last_day.isoformat()],
            [],
            [
                "bucket start",
                "deployments",
                "lead time median (h)",
                "ended",
                "failed changes",
                "change failure rate (%)",
                "time to restore median (h)",
            ],
        ]
        for b in figures.buckets:
            rows.append(
                [
                    timezone.localtime(b.start).date().isoformat(),
                    b.deployments,
                    h(b.lead_time),
                    b.ended,
                    b.failed,
                    rate(b.failure_rate),
                    h(b.restore_time),
                ]
            )
        rows.append(
            [
                "total",
                figures.deployments,
                h(figures.lead_time),
                figures.ended,
                figures.failed,
                rate(figures.failure_rate),
                h(figures.restore_time),
            ]
        )
        rows.append(["deployments per day", f"{figures.per_day:.2f}"])
        response = StreamingHttpResponse(stream_csv(rows), content_type="text/csv; charset=utf-8")
        stamp = f"{self.period.first_day:%Y%m%d}-{self.period.last_day:%Y%m%d}"
        response["Content-Disposition"] = f'attachment; filename="dora-{stamp}.csv"'
        return response


# --- timeline -------------------------------------------------------------------------------------
class TimelineView(PermissionRequiredMixin, TemplateView):
    """An environment's configuration changes, change requests, deployments and runs."""

    permission_required = VIEW_PERMISSION
    template_name = "deployments/timeline.html"
    page_size = 50

    def get_context_data(self, **kwargs):
        env = get_object_or_404(Environment.objects.select_related("project"), pk=self.kwargs["pk"])
        kinds = [k for k in self.request.GET.getlist("kind") if k in timeline.KINDS] or list(
            timeline.KINDS
        )
        before = timeline.parse_cursor(self.request.GET.get("before"))
        items, more = timeline.entries(env, before=before, limit=self.page_size, kinds=kinds)
        older = None
        if more and items:
            query = self.request.GET.copy()
            query["before"] = items[-1].cursor
            older = query.urlencode()
        return super().get_context_data(
            environment=env,
            items=items,
            older_query=older,
            kinds=kinds,
            kind_choices=[(k, timeline.KIND_LABELS[k]) for k in timeline.KINDS],
            first_page=before is None,
            **kwargs,
        )


# --- webhooks -------------------------------------------------------------------------------------
def _act(event: webhooks.ProviderEvent) -> JsonResponse:
    environment = None
    if event.environment_key:
        try:
            environment = environment_from_path(event.environment_key)
        except ValidationError:
            logger.error(
                "%s webhook: the settings map it to %s, which does not exist",
                event.provider,
                event.environment_key,
            )
            event.note = f"{event.environment_key} (from the settings) does not exist."
    try:
        result = services.webhook_delivery_process(
            provider=event.provider,
            delivery_id=event.delivery_id,
            event_type=event.event_type,
            sent_at=event.sent_at,
            environment=environment,
            deployment=event.deployment if environment is not None else None,
        )
    except ValidationError as exc:
        logger.warning("%s webhook %s refused: %s", event.provider, event.delivery_id, exc.messages)
        return JsonResponse({"detail": " ".join(exc.messages)}, status=400)
    body = {"outcome": result.outcome}
    if result.deployment is not None:
        body["deployment"] = result.deployment.pk
    if event.note and result.outcome == "ignored":
        body["detail"] = event.note
    logger.info(
        "%s webhook %s %s: %s", event.provider, event.event_type, event.delivery_id, result.outcome
    )
    return JsonResponse(body)


@method_decorator([csrf_exempt, login_not_required], name="dispatch")
class WebhookView(View):
    """A provider's signed POST. The signature is the authorisation: no session, no token."""

    http_method_names = ["post"]

    def read(self, request) -> webhooks.ProviderEvent:
        raise NotImplementedError

    def post(self, request):
        try:
            event = self.read(request)
        except webhooks.WebhookRefused as exc:
            # Never the body or a header: they may carry what an attacker wants logged.
            logger.warning("%s refused: %s", type(self).__name__, exc)
            return JsonResponse({"detail": str(exc)}, status=exc.status)
        except webhooks.ProviderUnavailable as exc:
            logger.warning("%s: %s (the provider will retry)", type(self).__name__, exc)
            return JsonResponse({"detail": str(exc)}, status=503)
        return _act(event)


class VercelWebhookView(WebhookView):
    def read(self, request):
        return webhooks.vercel_event(request.body, request.headers.get("x-vercel-signature", ""))


class RenderWebhookView(WebhookView):
    def read(self, request):
        return webhooks.render_event(request.body, request.headers)
