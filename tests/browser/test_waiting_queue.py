"""Real browser: an approver's "waiting for me" fills as an operator asks for a production change
and signs a production run's step, and empties as the approver decides each one — the count in
the navigation, the dashboard's queue and the page agree, and each entry leads to where it is
done. The approver is e-mailed for each (locmem: the live server runs in this process)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from environments import services as env_services
from environments.choices import Tier
from opsportal.audit.models import AuditEvent
from runbooks import services as rb_services
from runbooks.choices import StepStatus
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = [pytest.mark.browser]

PLAN = """# Production release

## Ship

- [ ] Promote the build
- [ ] Smoke test the inbox
"""


def badge(page, live_server) -> str:
    """The navigation's count, once htmx has fetched it."""
    page.locator("[data-testid=waiting-count]").wait_for()
    return page.get_attribute("[data-testid=waiting-count]", "data-count")


@pytest.mark.django_db(transaction=True)
def test_an_approvers_queue_fills_and_empties(page, live_server, login, user_factory, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PORTAL_BASE_URL = live_server.url
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION, protected=True)
    operator = user_factory("operator", username="otto")
    approver = user_factory("approver", username="anna")
    version = rb_services.runbook_import(actor=operator, text=PLAN, source_name="release.md")
    now = timezone.now()
    run = rb_services.run_start(
        actor=operator, version=version, environment=prod, planned_start=now,
        planned_end=now + timedelta(hours=1),
    )  # fmt: skip

    login(approver)
    assert badge(page, live_server) == "0"
    page.goto(f"{live_server.url}/notifications/waiting/")
    page.get_by_test_id("waiting-empty").wait_for()

    # The operator asks for a production change: it waits for a second person.
    cr = env_services.configvar_save(
        actor=operator, environment=prod, key="FEATURE_FLAG", value="on", is_secret=False,
        reason="switch the launch flag on",
    ).change_request  # fmt: skip
    page.goto(f"{live_server.url}/")
    assert badge(page, live_server) == "1"
    queue = page.get_by_test_id("dashboard-queue")
    queue.wait_for()
    assert "Change request" in queue.inner_text() and "FEATURE_FLAG" in queue.inner_text()
    assert [m.subject for m in mail.outbox if m.to == ["anna@example.com"]] == [
        f"[opsportal] Change request #{cr.pk} waits for approval: makalah.ai / prod"
    ]

    # The entry leads to the change request; deciding it empties the queue.
    queue.get_by_role("link", name=f"#{cr.pk} on makalah.ai / prod").click()
    page.wait_for_url(f"**{cr.get_absolute_url()}")
    page.fill("#approve-reason", "checked against the launch plan")
    page.fill("#approve-confirm", "prod")
    page.get_by_test_id("approve").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("cr-status").inner_text() == "Approved and applied"
    assert badge(page, live_server) == "0"
    page.goto(f"{live_server.url}/notifications/waiting/")
    page.get_by_test_id("waiting-empty").wait_for()

    # The operator signs a production step: it waits for the approver's second sign-off.
    promote = run.step_runs.get(step__title="Promote the build")
    rb_services.step_sign(actor=operator, step_run=promote, note="build 412 promoted")
    page.reload()
    assert badge(page, live_server) == "1"
    item = page.get_by_test_id("waiting-item")
    assert item.get_attribute("data-kind") == "second-sign-off"
    assert "first signed by otto" in item.inner_text()
    item.get_by_role("link").click()
    page.wait_for_url(f"**{run.get_absolute_url()}#step-{promote.pk}")
    row = page.locator(f"#step-{promote.pk}")
    row.locator("input[name=note]").fill("diff reviewed")
    row.locator("[data-testid=second-sign]").click()
    page.locator("li.step-row[data-status=done]", has_text="Promote the build").wait_for()

    page.goto(f"{live_server.url}/")
    assert badge(page, live_server) == "0"
    page.get_by_test_id("environments-panel").wait_for()
    assert page.get_by_test_id("dashboard-queue").count() == 0
    page.goto(f"{live_server.url}/notifications/waiting/")
    page.get_by_test_id("waiting-empty").wait_for()

    promote.refresh_from_db()
    assert promote.status == StepStatus.DONE and promote.second_signed_by == approver
    assert AuditEvent.objects.filter(action="changerequest.applied", actor=approver).exists()
    assert AuditEvent.objects.filter(action="runbook.step.second_signed", actor=approver).exists()
    anna = [m.subject for m in mail.outbox if m.to == ["anna@example.com"]]
    assert anna[-1] == "[opsportal] Second sign-off needed: Promote the build (makalah.ai / prod)"
    otto = [m.subject for m in mail.outbox if m.to == ["otto@example.com"]]
    assert otto == [f"[opsportal] Change request #{cr.pk} approved and applied: makalah.ai / prod"]
    for message in mail.outbox:
        assert live_server.url in message.body  # every message links back to the portal
