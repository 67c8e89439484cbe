"""Import a plan, start a run, check three steps, a second user signs a protected step, export."""

import pytest

from environments.choices import Tier
from opsportal.audit.models import AuditEvent
from runbooks import services as runbook_services
from runbooks.choices import SecondSignoff, StepStatus
from runbooks.models import Run, Runbook, StepRun
from tests.factories import EnvironmentFactory

PLAN = """# Browser release

## Prepare

- [ ] Announce the window
- [ ] Back up the database

## Ship

- [ ] Promote the build
- [ ] Smoke test the inbox

## Rollback

Promote the previous build.
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_run_end_to_end_with_second_approver(
    page, live_server, login, user_factory, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    operator = user_factory("operator", username="olga")
    approver = user_factory("approver", username="april")
    prod = EnvironmentFactory(name="prod", tier=Tier.PRODUCTION, protected=True)
    plan = tmp_path / "browser-release.md"
    plan.write_text(PLAN, encoding="utf-8")

    # Import the plan.
    login(operator)
    page.goto(f"{live_server.url}/runbooks/import/")
    page.set_input_files("#id_file", str(plan))
    page.click("main button[type=submit]")
    page.click("[data-testid=save]")  # the preview comes first
    page.wait_for_selector("text=Imported Browser release v1.")
    # This team asks for a second person only on the steps it marks (by default every step of a
    # run on a protected environment would wait for one).
    runbook_services.runbook_update(
        actor=approver,
        runbook=Runbook.objects.get(),
        allowed_urls="",
        second_signoff=SecondSignoff.MARKED,
    )

    # Mark "Promote the build" as needing a second sign-off (a new version).
    page.locator("li.list-group-item", has_text="Promote the build").get_by_role(
        "link", name="Edit"
    ).click()
    page.check("#id_requires_second_signoff")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Saved as version 2")

    # Start a run on the protected production environment.
    page.click("[data-testid=start-run]")
    page.select_option("#id_environment", str(prod.pk))
    page.fill("#id_planned_start", "2026-11-24T10:00")
    page.fill("#id_planned_end", "2026-11-24T11:00")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Run started.")
    run = Run.objects.get()
    assert run.version.number == 2

    # Check three steps in place (htmx swaps the row, no full reload).
    page.evaluate("window.__marker = 'same page'")
    evidence = tmp_path / "backup.log"
    evidence.write_text("pg_dump finished: 41 MB\n")
    for title in ("Announce the window", "Back up the database", "Smoke test the inbox"):
        row = page.locator("li.step-row", has_text=title)
        row.locator("input[name=note]").fill(f"{title}: ok")
        if title == "Back up the database":
            row.locator("input[name=evidence_file]").set_input_files(str(evidence))
            row.locator("textarea[name=evidence_text]").fill("dump size 41 MB")
        row.locator("[data-testid=sign]").click()
        page.locator("li.step-row[data-status=done]", has_text=title).wait_for()
    assert page.evaluate("window.__marker") == "same page"
    page.wait_for_selector("text=3 of 4 steps closed")

    # The protected step: first sign-off by the operator...
    row = page.locator("li.step-row", has_text="Promote the build")
    row.locator("[data-testid=sign]").click()
    page.locator(
        "li.step-row[data-status=awaiting_second]", has_text="Promote the build"
    ).wait_for()

    # ...second sign-off by a different user with the approver role.
    page.context.clear_cookies()
    login(approver)
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    row = page.locator("li.step-row", has_text="Promote the build")
    row.locator("input[name=note]").fill("diff reviewed")
    row.locator("[data-testid=second-sign]").click()
    page.locator("li.step-row[data-status=done]", has_text="Promote the build").wait_for()
    page.wait_for_selector("text=4 of 4 steps closed")
    page.click("[data-testid=complete]")
    page.wait_for_selector("text=Run completed.")

    # Export the report.
    page.click("[data-testid=report-html]")
    page.wait_for_selector("[data-testid=chain-hash]")
    report = page.content()
    assert "april" in report and "olga" in report
    assert page.locator("tr.report-step").count() == 4
    assert "Completed" in page.inner_text("[data-testid=report-status]")

    backup = StepRun.objects.get(run=run, step__title="Back up the database")
    assert backup.evidence_file.read() == b"pg_dump finished: 41 MB\n"
    assert backup.evidence_text == "dump size 41 MB"
    assert "backup.log" in report
    promote = StepRun.objects.get(run=run, step__title="Promote the build")
    assert promote.status == StepStatus.DONE
    assert (promote.signed_by, promote.second_signed_by) == (operator, approver)
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {
        "runbook.imported",
        "runbook.step.updated",
        "runbook.run.started",
        "runbook.step.signed_off",
        "runbook.step.second_signed",
        "runbook.run.completed",
    } <= actions


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_queued_check_shows_its_result_without_a_reload(
    page, live_server, login, user_factory, monkeypatch
):
    from datetime import timedelta

    from django.utils import timezone

    from runbooks import services

    operator = user_factory("operator", username="olga")
    dev = EnvironmentFactory(name="dev", tier=Tier.DEVELOPMENT)
    version = services.runbook_import(actor=operator, text=PLAN, source_name="plan.md")
    step = version.phases.get(order=2).steps.get(title="Smoke test the inbox")
    version = services.step_update(
        actor=operator,
        step=step,
        title=step.title,
        body="",
        required=True,
        requires_second_signoff=False,
        check_type="env_clean",
    )
    now = timezone.now()
    run = services.run_start(
        actor=operator,
        version=version,
        environment=dev,
        planned_start=now,
        planned_end=now + timedelta(hours=1),
    )
    sr = StepRun.objects.get(run=run, step__title="Smoke test the inbox")
    # The worker has not picked the task up yet: the row shows "Queued".
    monkeypatch.setattr(services, "async_task", lambda *args, **kwargs: None)
    services.check_request(actor=operator, step_run=sr)

    login(operator)
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    row = page.locator(f"#step-{sr.pk}")
    assert "Queued" in row.locator(".check-result").inner_text()
    services.check_record(step_run_id=sr.pk, result={"ok": True, "summary": "hygiene clean"})
    page.wait_for_selector(f"#step-{sr.pk}[data-status=done]", timeout=10_000)
    assert "Passed" in row.locator(".check-result").inner_text()
    assert "hygiene clean" in row.inner_text()
    assert page.get_by_test_id("progress-count").inner_text() == "1 of 4 steps closed"
    assert AuditEvent.objects.filter(action="runbook.check.passed").count() == 1
    # Once the result is in, the row stops asking.
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.wait_for_timeout(2500)
    assert requests == []
