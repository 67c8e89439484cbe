"""Real browser: the environment's timeline, the ledger, a deployment, marking it rolled back, and
the DORA page with its charts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import services
from environments import services as env_services
from environments.choices import Tier
from opsportal.audit.models import AuditEvent
from runbooks.choices import RunStatus
from runbooks.models import Run, Runbook, RunbookVersion
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def history(user_factory):
    operator = user_factory("operator", username="otto")
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    now = timezone.now()
    for day, (status, sha) in enumerate(
        [("success", "a1"), ("failure", "b2"), ("success", "c3"), ("success", "d4")]
    ):
        at = now - timedelta(days=6 - day)
        services.deployment_record(
            actor=operator,
            environment=prod,
            sha=sha * 20,
            status=status,
            external_id=f"gha-{day}",
            provider="github_actions",
            commit_time=at - timedelta(hours=3),
            at=at,
        )
    env_services.configvar_save(
        actor=operator,
        environment=prod,
        key="NEXT_PUBLIC_APP_URL",
        value="https://makalah.ai",
        is_secret=False,
        reason="set the public URL",
    )
    runbook = Runbook.objects.create(title="Release checklist")
    version = RunbookVersion.objects.create(runbook=runbook, number=1, sha256="0" * 64)
    Run.objects.create(
        version=version,
        environment=prod,
        status=RunStatus.IN_PROGRESS,
        planned_start=now,
        planned_end=now + timedelta(hours=1),
        started_by=operator,
        started_at=now - timedelta(minutes=5),
    )
    return operator, prod


def test_timeline_ledger_deployment_and_dora(page, live_server, login, history):
    operator, prod = history
    login(operator)
    page.goto(f"{live_server.url}{prod.get_absolute_url()}")
    timeline = page.get_by_test_id("production-timeline")
    kinds = timeline.locator("li[data-kind]").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert {"deployment", "run", "change_request"} <= set(kinds)
    assert "Release checklist" in timeline.inner_text()

    timeline.get_by_role("link", name="Deployments").click()
    ledger = page.get_by_test_id("ledger")
    assert ledger.locator("tr[data-deployment]").count() == 4
    assert "Failed" in ledger.inner_text()
    ledger.locator("tr[data-deployment]").first.get_by_role("link").first.click()
    assert "d4d4d4d" in page.get_by_test_id("deployment-facts").inner_text()
    assert page.get_by_test_id("deployment-status").inner_text().strip() == "Succeeded"

    page.get_by_role("link", name="Mark rolled back").click()
    page.fill("#id_reason", "error rate up after the release")
    page.get_by_role("button", name="Save").click()
    page.wait_for_selector("text=is marked rolled back")
    assert page.get_by_test_id("deployment-status").inner_text().strip() == "Rolled back"
    assert AuditEvent.objects.filter(action="deployment.rolled_back", actor=operator).exists()

    page.get_by_role("link", name="Deployments", exact=True).first.click()
    page.get_by_role("link", name="DORA figures").click()
    figures = page.get_by_test_id("dora-figures")
    assert figures.locator("svg.dora-chart").count() == 4
    # 2 successes left of 4 ended deployments over the last 30 days; 2 failed changes
    assert page.get_by_test_id("dora-frequency").inner_text().startswith("0.07")
    assert page.get_by_test_id("dora-failure-rate").inner_text().startswith("50")
    assert page.get_by_test_id("dora-lead-time").inner_text().startswith("3.0")
    page.select_option("#id_environment", str(prod.pk))
    page.select_option("#id_days", "7")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**environment=*")
    assert "makalah.ai / prod" in page.get_by_test_id("dora-scope").inner_text()
    assert page.get_by_test_id("dora-frequency").inner_text().startswith("0.29")
    csv_link = page.get_by_test_id("dora-csv").get_attribute("href")
    assert f"environment={prod.pk}" in csv_link and "days=7" in csv_link
