import calendar
import re
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.generic import DetailView, ListView, TemplateView

from opsportal.apphooks import app_hooks
from opsportal.exports import stream_csv
from opsportal.generic import ServiceFormView
from opsportal.security import ascii_int
from runbooks.models import Runbook

from . import dashboard, services
from .choices import Frequency, PeriodStatus
from .forms import OptionalReasonForm, ReasonForm, ScheduleForm
from .hooks import STATUS_STYLE, CalendarEntry
from .models import RunSchedule

MONTH = re.compile(r"\A(\d{4})-(\d{2})\Z", re.ASCII)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def collect(user, start: datetime, end: datetime) -> list[CalendarEntry]:
    """Every app's entries in ``[start, end)`` (``<app>/calendar.py``), in time order."""
    found: list[CalendarEntry] = []
    for module in app_hooks("calendar"):
        found.extend(module.entries(user, start, end))
    return sorted(found, key=lambda e: (e.when, e.kind, e.title))


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class CalendarView(TemplateView):
    """``/calendar/?month=2026-12[&view=list]``: a month grid (weeks from Monday) or the list
    of the month's entries, from every app's calendar hook. Plain links: no script needed."""

    template_name = "operations/calendar.html"

    def _month(self) -> tuple[int, int]:
        today = timezone.localdate()
        raw = self.request.GET.get("month", "")
        match = MONTH.match(raw)
        if match:
            year, month = int(match[1]), int(match[2])
            if 1 <= month <= 12 and 1971 <= year <= 9998:
                return year, month
        if raw:
            messages.warning(self.request, "Give the month as YYYY-MM; showing this month.")
        return today.year, today.month

    def render_to_response(self, context, **kwargs):
        if self.request.GET.get("format") != "csv":
            return super().render_to_response(context, **kwargs)
        base = self.request.build_absolute_uri("/")[:-1]
        rows = [["date", "time", "kind", "title", "status", "detail", "url"]]
        for day, items in context["days"]:
            for e in items:
                when = "" if e.all_day else f"{timezone.localtime(e.when):%H:%M}"
                url = f"{base}{e.url}" if e.url.startswith("/") else e.url
                row = [f"{day:%Y-%m-%d}", when, e.kind, e.title, e.status_label, e.detail, url]
                rows.append(row)
        response = StreamingHttpResponse(stream_csv(rows), content_type="text/csv; charset=utf-8")
        filename = f"calendar-{context['month_param']}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        year, month = self._month()
        view = "list" if self.request.GET.get("view") == "list" else "month"
        weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
        first, last = weeks[0][0], weeks[-1][-1]
        entries = collect(self.request.user, _midnight(first), _midnight(last + timedelta(days=1)))
        by_day: dict[date, list[CalendarEntry]] = {}
        for entry in entries:
            by_day.setdefault(timezone.localdate(entry.when), []).append(entry)
        today = timezone.localdate()
        grid = [
            [
                {
                    "date": day,
                    "in_month": day.month == month,
                    "today": day == today,
                    "entries": by_day.get(day, []),
                }
                for day in week
            ]
            for week in weeks
        ]
        days = [
            (day, items)
            for day, items in sorted(by_day.items())
            if day.month == month and day.year == year
        ]
        this = date(year, month, 1)
        prev = (this - timedelta(days=1)).replace(day=1)
        nxt = (this + timedelta(days=32)).replace(day=1)
        ctx.update(
            nav_section="calendar",
            view=view,
            month=this,
            month_param=f"{year:04d}-{month:02d}",
            prev_param=f"{prev:%Y-%m}",
            next_param=f"{nxt:%Y-%m}",
            today_param=f"{today:%Y-%m}",
            weekdays=WEEKDAYS,
            grid=grid,
            days=days,
            count=sum(len(items) for _, items in days),
            styles=STATUS_STYLE,
            can_schedule=self.request.user.has_perm(services.PERM_ADD),
            time_zone=settings.TIME_ZONE,
        )
        return ctx


class DuePanelView(PermissionRequiredMixin, TemplateView):
    """The dashboard's recurring-runs panel, fetched by htmx into its slot."""

    permission_required = services.PERM_VIEW
    template_name = "operations/dashboard_panel.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(panel=dashboard.due_panel(), **kwargs)


# --- schedules --------------------------------------------------------------------------------
class ScheduleListView(PermissionRequiredMixin, ListView):
    permission_required = services.PERM_VIEW
    template_name = "operations/schedule_list.html"
    paginate_by = 25

    def get_queryset(self):
        return RunSchedule.objects.with_related().order_by("-active", "next_due_at", "pk")

    def get_context_data(self, **kwargs):
        return super().get_context_data(nav_section="calendar", **kwargs)


class ScheduleDetailView(PermissionRequiredMixin, DetailView):
    permission_required = services.PERM_VIEW
    template_name = "operations/schedule_detail.html"
    context_object_name = "schedule"
    queryset = RunSchedule.objects.with_related().select_related("created_by")

    def get_context_data(self, **kwargs):
        ctx = super().get_context_data(**kwargs)
        now = timezone.now()
        periods = list(self.object.periods.select_related("run").order_by("-period_start")[:50])
        ctx.update(
            nav_section="calendar",
            periods=[_with_style(p.status(now), p) for p in periods],
            upcoming=self.object.parsed().between(
                max(now, self.object.next_due_at or now), now + timedelta(days=400), limit=5
            )
            if self.object.active
            else [],
        )
        return ctx


def _with_style(status: str, period) -> tuple:
    status = PeriodStatus(status)
    return period, status, STATUS_STYLE[status]


class _ScheduleFormView(ServiceFormView):
    form_class = ScheduleForm
    template_name = "operations/schedule_form.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(nav_section="calendar", **kwargs)


class ScheduleCreateView(_ScheduleFormView):
    permission_required = services.PERM_ADD
    title = "New recurring run"

    def get_initial(self):
        initial = {"owner": self.request.user.pk}
        pk = ascii_int(self.request.GET.get("runbook"))
        runbook = Runbook.objects.filter(pk=pk).first() if pk else None
        if runbook is not None:
            initial["runbook"] = runbook.pk
        return initial

    def call_service(self, form):
        return services.schedule_create(actor=self.request.user, **form.values())

    def after_service(self, result):
        messages.success(self.request, f"Scheduled: {result.describe()}.")
        return redirect(result)


class ScheduleEditView(_ScheduleFormView):
    permission_required = services.PERM_CHANGE
    title = "Change recurring run"

    @cached_property
    def schedule(self) -> RunSchedule:
        return get_object_or_404(RunSchedule.objects.with_related(), pk=self.kwargs["pk"])

    def get_initial(self):
        s = self.schedule
        return {
            "runbook": s.runbook_id,
            "environment": s.environment_id,
            "owner": s.owner_id,
            "frequency": s.frequency,
            "at_time": s.at_time,
            "weekday": s.weekday,
            "day_of_month": s.day_of_month,
            "cron": s.cron,
            "grace_hours": s.grace_hours,
            "starts_at": timezone.localtime(s.starts_at),
        }

    def get_context_data(self, **kwargs):
        return super().get_context_data(schedule=self.schedule, **kwargs)

    def call_service(self, form):
        values = form.values()
        if not form.cleaned_data.get("starts_at"):
            values["starts_at"] = self.schedule.starts_at
        if values["frequency"] != Frequency.CRON:
            values["cron"] = ""
        return services.schedule_update(actor=self.request.user, schedule=self.schedule, **values)


class _ScheduleActionView(ServiceFormView):
    form_class = OptionalReasonForm
    template_name = "operations/schedule_action.html"
    verb = ""

    @cached_property
    def schedule(self) -> RunSchedule:
        return get_object_or_404(RunSchedule.objects.with_related(), pk=self.kwargs["pk"])

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            schedule=self.schedule, verb=self.verb, nav_section="calendar", **kwargs
        )


class SchedulePauseView(_ScheduleActionView):
    permission_required = services.PERM_CHANGE
    title, verb = "Pause recurring run", "Pause"

    def call_service(self, form):
        return services.schedule_pause(
            actor=self.request.user, schedule=self.schedule, reason=form.cleaned_data["reason"]
        )

    def after_service(self, result):
        messages.success(self.request, "Paused: no new runs start until it is resumed.")
        return redirect(result)


class ScheduleResumeView(_ScheduleActionView):
    permission_required = services.PERM_CHANGE
    title, verb = "Resume recurring run", "Resume"

    def call_service(self, form):
        return services.schedule_resume(
            actor=self.request.user, schedule=self.schedule, reason=form.cleaned_data["reason"]
        )

    def after_service(self, result):
        when = timezone.localtime(result.next_due_at)
        messages.success(self.request, f"Resumed: the next run starts {when:%Y-%m-%d %H:%M}.")
        return redirect(result)


class ScheduleDeleteView(_ScheduleActionView):
    permission_required = services.PERM_DELETE
    form_class = ReasonForm
    title, verb = "Delete recurring run", "Delete"

    def call_service(self, form):
        services.schedule_delete(
            actor=self.request.user, schedule=self.schedule, reason=form.cleaned_data["reason"]
        )

    def after_service(self, result):
        messages.success(self.request, "Deleted; the runs it started stay with their runbook.")
        return redirect("operations:schedule_list")
