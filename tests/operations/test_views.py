"""The calendar (month grid and list, entries from every registered hook), the schedule pages
and their permissions, "waiting for me", the dashboard panel and the overdue notification."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications import engine
from notifications.models import Notification
from notifications.queue import collect
from operations import services
from operations import views as op_views
from operations.hooks import CalendarEntry
from operations.models import RunSchedule
from opsportal.audit.models import AuditEvent

from .conftest import at

pytestmark = pytest.mark.django_db
CAL = reverse("operations:calendar")


@pytest.fixture
def campaign_hook(monkeypatch):
    """Another app's calendar.py (as compliance registers its due dates)."""
    asked = []

    def entries(user, start, end):
        asked.append((start, end))
        return [
            CalendarEntry(
                when=at("2026-12-15 00:00"), title="Rotate every Stripe key",
                url="/compliance/campaigns/7/", kind="Rotation campaign", status="due",
                detail="3 of 12 rotated", all_day=True,
            )
        ]  # fmt: skip

    fake = SimpleNamespace(entries=entries)
    real = op_views.app_hooks

    def hooks(name):
        yield from real(name)
        if name == "calendar":
            yield fake

    monkeypatch.setattr(op_views, "app_hooks", hooks)
    return asked


@pytest.fixture
def clock(monkeypatch):
    """The page's clock (what is due or overdue) at Monday 7 December 2026, 10:00."""
    monkeypatch.setattr(timezone, "now", lambda: at("2026-12-07 10:00"))


def test_month_grid_shows_every_hooks_entries(client_for, make_schedule, campaign_hook):
    schedule = make_schedule()
    [period] = services.scheduled_runs_create_due(now=at("2026-12-07 09:01"))
    client, _ = client_for("viewer")
    page = client.get(CAL, {"month": "2026-12"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Operations calendar: December 2026" in html
    # the grid runs Monday 30 November to Sunday 3 January, whole local days
    assert campaign_hook == [(at("2026-11-30 00:00"), at("2027-01-04 00:00"))]
    assert 'data-date="2026-11-30"' in html and 'data-date="2027-01-03"' in html
    assert f'href="{period.run.get_absolute_url()}"' in html  # the started period
    assert html.count(f'href="{schedule.get_absolute_url()}"') == 3  # planned: 14, 21, 28 Dec
    assert "/compliance/campaigns/7/" in html and "Rotate every Stripe key" in html
    assert 'rel="prev" href="?month=2026-11"' in html
    assert 'rel="next" href="?month=2027-01"' in html


def test_list_view_lists_the_months_entries_by_day(client_for, make_schedule, campaign_hook, clock):
    make_schedule()
    services.scheduled_runs_create_due(now=at("2026-12-07 09:01"))
    client, _ = client_for("viewer")
    html = client.get(CAL, {"month": "2026-12", "view": "list"}).content.decode()
    days = [line for line in html.splitlines() if '<h2 class="h6' in line]
    assert [d.split('datetime="')[1][:10] for d in days] == [
        "2026-12-07",
        "2026-12-14",
        "2026-12-15",
        "2026-12-21",
        "2026-12-28",
    ]  # fmt: skip (30 Nov and 3 Jan are outside the month)
    assert "Rotation campaign · 3 of 12 rotated" in html
    assert "Due</span>" in html and "Planned</span>" in html


def test_a_bad_month_falls_back_to_this_month(client_for):
    client, _ = client_for("viewer")
    for bad in ("2026-13", "26-12", "２０２６-12", "2026-12-01", "0000-01"):
        page = client.get(CAL, {"month": bad})
        assert page.status_code == 200
        assert f"Operations calendar: {timezone.localdate():%B %Y}" in page.content.decode()
    assert "Give the month as YYYY-MM" in page.content.decode()


def test_the_calendar_needs_a_login_and_hides_what_a_user_may_not_see(
    client, make_schedule, user_factory
):
    make_schedule()
    assert client.get(CAL).status_code == 302
    nobody = user_factory(None, username="norole")
    client.force_login(nobody)
    html = client.get(CAL, {"month": "2026-12"}).content.decode()
    assert "Weekly backup export" not in html


def test_schedule_pages_and_their_permissions(client_for, make_schedule, runbook, prod):
    schedule = make_schedule()
    viewer, _ = client_for("viewer")
    assert viewer.get(reverse("operations:schedule_list")).status_code == 200
    detail = viewer.get(schedule.get_absolute_url())
    assert detail.status_code == 200 and "weekly on Monday at 09:00" in detail.content.decode()
    for name in ("schedule_edit", "schedule_pause", "schedule_delete"):
        assert viewer.get(reverse(f"operations:{name}", args=[schedule.pk])).status_code == 403
    assert viewer.get(reverse("operations:schedule_create")).status_code == 403

    operator, olga_too = client_for("operator", username="oscar")
    form = {
        "runbook": runbook.pk, "environment": prod.pk, "owner": olga_too.pk,
        "frequency": "cron", "at_time": "09:00", "weekday": 0, "day_of_month": 1,
        "cron": "*/10 6 * * *", "grace_hours": 2, "starts_at": "",
    }  # fmt: skip
    page = operator.post(reverse("operations:schedule_create"), form)
    assert page.status_code == 200  # the service's error, next to the field
    assert "at most hourly" in page.content.decode()
    page = operator.post(reverse("operations:schedule_create"), form | {"cron": "15 6 * * *"})
    created = RunSchedule.objects.get(cron="15 6 * * *")
    assert page.status_code == 302 and page.url == created.get_absolute_url()
    assert AuditEvent.objects.get(action="schedule.created", target_id=str(created.pk)).actor == (
        olga_too
    )
    url = reverse("operations:schedule_pause", args=[created.pk])
    assert operator.post(url, {"reason": "freeze"}).status_code == 302
    assert AuditEvent.objects.get(action="schedule.paused").message == "freeze"
    url = reverse("operations:schedule_delete", args=[created.pk])
    assert operator.post(url, {"reason": ""}).status_code == 200  # a reason is required
    assert operator.post(url, {"reason": "duplicate"}).status_code == 302
    assert AuditEvent.objects.get(action="schedule.deleted").message == "duplicate"
    assert not RunSchedule.objects.filter(pk=created.pk).exists()


def test_edit_page_changes_the_schedule(client_for, make_schedule, operator, runbook, prod):
    schedule = make_schedule()
    client, _ = client_for("operator")
    page = client.get(reverse("operations:schedule_edit", args=[schedule.pk]))
    assert page.status_code == 200
    form = {
        "runbook": runbook.pk, "environment": prod.pk, "owner": operator.pk,
        "frequency": "monthly", "at_time": "07:00", "weekday": 0, "day_of_month": 3,
        "cron": "", "grace_hours": 48, "starts_at": "2026-11-30T00:00",
    }  # fmt: skip
    page = client.post(reverse("operations:schedule_edit", args=[schedule.pk]), form)
    assert page.status_code == 302
    schedule.refresh_from_db()
    assert schedule.expression() == "0 7 3 * *" and schedule.grace_hours == 48
    event = AuditEvent.objects.get(action="schedule.updated")
    assert event.changes["expression"] == {"before": "0 9 * * 1", "after": "0 7 3 * *"}


def test_due_and_overdue_runs_wait_for_their_owner_and_show_on_the_dashboard(
    client_for, make_schedule, operator
):
    now = timezone.now()
    start = (now - timedelta(days=1)).astimezone(UTC).replace(second=0, microsecond=0)
    make_schedule(frequency="daily", at_time=time(start.hour, start.minute), starts_at=start,
                  grace_hours=2)  # fmt: skip
    [period] = services.scheduled_runs_create_due(now=now)
    [item] = [i for i in collect(operator) if i.kind.startswith("Recurring run")]
    assert item.kind == "Recurring run due" and item.url == period.run.get_absolute_url()
    client, _ = client_for("viewer")
    # the dashboard holds the panel's slot; htmx fetches the panel when the page loads
    html = client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="operations-panel-slot"' in html
    assert f'hx-get="{reverse("operations:due_panel")}"' in html
    html = client.get(reverse("operations:due_panel")).content.decode()
    assert 'data-testid="operations-panel"' in html and "<html" not in html
    assert f'href="{period.run.get_absolute_url()}" data-testid="due-run"' in html
    nobody, _ = client_for(None)
    assert nobody.get(reverse("operations:due_panel")).status_code == 403
    assert "operations-panel-slot" not in nobody.get(reverse("dashboard")).content.decode()
    # two hours later it is overdue; the owner is told once
    later = now + timedelta(hours=2, minutes=1)
    assert services.scheduled_runs_flag_overdue(now=later) == 1
    engine.process_events()
    note = Notification.objects.get(event="schedule.run_overdue")
    assert note.url == period.run.get_absolute_url()
    assert note.subject == "Recurring run overdue: Weekly backup export (shop.example / prod)"
    assert note.deliveries.filter(recipient=operator).exists()
    engine.process_events()
    assert Notification.objects.filter(event="schedule.run_overdue").count() == 1
    assert AuditEvent.objects.filter(action="schedule.run.overdue").count() == 1


def test_a_run_that_could_not_start_tells_the_owner(make_schedule, operator):
    make_schedule()
    operator.groups.clear()
    services.scheduled_runs_create_due(now=at("2026-11-30 09:00"))
    assert AuditEvent.objects.filter(action="schedule.run.failed").count() == 1
    # the event is old by the test clock but recent by the trail's: it is told
    engine.process_events()
    note = Notification.objects.get(event="schedule.run_failed")
    assert "not allowed to start runbook runs" in note.body


def test_the_calendar_is_a_page_of_few_queries(
    client_for, make_schedule, django_assert_max_num_queries
):
    for hour in range(6):
        make_schedule(at_time=time(hour, 0))
    services.scheduled_runs_create_due(now=datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    client, _ = client_for("viewer")
    with django_assert_max_num_queries(12):
        assert client.get(CAL, {"month": "2026-12"}).status_code == 200


def test_the_months_entries_export_as_csv(client_for, make_schedule, campaign_hook, clock):
    make_schedule()
    [period] = services.scheduled_runs_create_due(now=at("2026-12-07 09:01"))
    client, _ = client_for("viewer")
    response = client.get(CAL, {"month": "2026-12", "format": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="calendar-2026-12.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "date,time,kind,title,status,detail,url"
    assert lines[1] == (
        "2026-12-07,09:00,Recurring run,Weekly backup export on shop.example / prod,Due,"
        f"due by 13:00,http://testserver{period.run.get_absolute_url()}"
    )
    assert lines[3] == (
        "2026-12-15,,Rotation campaign,Rotate every Stripe key,Due,3 of 12 rotated,"
        "http://testserver/compliance/campaigns/7/"
    )
    assert len(lines) == 6  # 7, 14, 15, 21, 28 December


def test_global_search_finds_recurring_runs(client_for, make_schedule):
    schedule = make_schedule()
    viewer, _ = client_for("viewer")
    html = viewer.get(reverse("search"), {"q": "backup exp"}).content.decode()
    assert f'href="{schedule.get_absolute_url()}"' in html
    assert "Weekly backup export (weekly on Monday at 09:00)" in html
    nobody, _ = client_for(None)
    html = nobody.get(reverse("search"), {"q": "backup exp"}).content.decode()
    assert schedule.get_absolute_url() not in html
