"""A recurring run set up on its page falls due: the tick starts it, it shows on the dashboard
and the calendar, and the calendar's entry (reached with the keyboard) opens that very run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from environments.choices import Tier
from operations import services
from operations.models import RunSchedule, ScheduledRun
from opsportal.audit.models import AuditEvent
from runbooks import services as runbook_services
from tests.factories import EnvironmentFactory

PLAN = """# Daily production check

## Look

- [ ] Compare today's error rate with last week's
- [ ] Confirm the last deployment is the one serving traffic
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_due_recurring_run_on_the_dashboard_and_the_calendar(
    page, live_server, login, user_factory
):
    operator = user_factory("operator", username="olga")
    prod = EnvironmentFactory(name="prod", tier=Tier.PRODUCTION)
    runbook = runbook_services.runbook_import(
        actor=operator, text=PLAN, source_name="daily.md"
    ).runbook
    now = timezone.localtime()
    at = now - timedelta(hours=1)
    starts = now - timedelta(hours=2)

    login(operator)
    page.goto(f"{live_server.url}/operations/schedules/new/?runbook={runbook.pk}")
    page.select_option("#id_environment", str(prod.pk))
    page.select_option("#id_frequency", "daily")
    page.fill("#id_at_time", at.strftime("%H:%M"))
    page.fill("#id_grace_hours", "6")
    page.fill("#id_starts_at", starts.strftime("%Y-%m-%dT%H:%M"))
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Scheduled: daily at")
    schedule = RunSchedule.objects.get()
    assert schedule.owner == operator and schedule.runbook == runbook
    assert AuditEvent.objects.filter(action="schedule.created", actor=operator).exists()

    # what the django-q2 tick does every five minutes
    [period] = services.scheduled_runs_create_due(now=timezone.now())
    run = period.run
    assert ScheduledRun.objects.get().run == run
    assert AuditEvent.objects.filter(action="schedule.run.created").count() == 1

    page.goto(f"{live_server.url}/")
    panel = page.locator("[data-testid=operations-panel]")
    panel.locator("[data-testid=due-run]").wait_for()
    assert panel.locator("[data-testid=due-run]").get_attribute("href") == run.get_absolute_url()

    month = timezone.localtime(period.period_start).strftime("%Y-%m")
    page.goto(f"{live_server.url}/calendar/?month={month}")
    url = run.get_absolute_url()
    entry = page.locator(f"[data-testid=calendar-grid] a[data-testid=calendar-entry][href='{url}']")
    assert entry.count() == 1
    assert "Due" in entry.inner_text()
    entry.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}{run.get_absolute_url()}")
    page.get_by_text("Compare today's error rate with last week's").wait_for()

    # the list view holds it too
    page.goto(f"{live_server.url}/calendar/?month={month}&view=list")
    assert (
        page.locator(f"[data-testid=calendar-list] a[href='{run.get_absolute_url()}']").count() == 1
    )
