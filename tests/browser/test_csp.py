"""Under the Content-Security-Policy (scripts from static files only) the pages that used inline
script still work, and Chromium reports no violation (issue 14, item 6)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runbooks import services as runbook_services
from runbooks.models import Step
from tests.factories import EnvironmentFactory

PLAN = "# CSP plan\n\n## Do\n\n- [ ] Check the homepage\n- [ ] Announce it\n"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_pages_that_had_inline_script_work_without_violations(
    page, live_server, login, user_factory
):
    operator = user_factory("operator", username="cora")
    version = runbook_services.runbook_import(actor=operator, text=PLAN, source_name="csp.md")
    start = timezone.now()
    run = runbook_services.run_start(
        actor=operator, version=version, environment=EnvironmentFactory(name="dev"),
        planned_start=start, planned_end=start + timedelta(hours=1),
    )  # fmt: skip
    step = Step.objects.get(title="Check the homepage")
    violations = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    login(operator)

    # the step form shows only the fields of the chosen check type (static/js/step_form.js)
    page.goto(f"{live_server.url}/runbooks/steps/{step.pk}/edit/")
    url_row = page.locator("#id_url").locator("xpath=ancestor::div[contains(@class,'mb-3')][1]")
    page.select_option("#id_check_type", "")
    assert url_row.is_hidden()
    page.select_option("#id_check_type", "http")
    assert url_row.is_visible()
    assert (
        page.locator("#id_job_id")
        .locator("xpath=ancestor::div[contains(@class,'mb-3')][1]")
        .is_hidden()
    )

    # the report's Print link (data-print, static/js/portal.js) calls window.print
    page.goto(f"{live_server.url}/runbooks/runs/{run.pk}/report/")
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.click("[data-print]")
    assert page.evaluate("window.__printed") is True

    page.goto(f"{live_server.url}/imports/")
    page.goto(f"{live_server.url}/")
    assert violations == []
