"""Real browser: import a .env into production, see the change request, a second user approves,
the matrix shows the new state."""

import pytest

from environments.choices import Tier
from opsportal.audit.models import AuditEvent
from tests.factories import EnvironmentFactory, ProjectFactory, ProviderDeploymentFactory

pytestmark = [pytest.mark.browser]

ENV_TEXT = """# production values
NEXT_PUBLIC_CONVEX_URL=https://basic-oriole-337.convex.cloud
CLERK_SECRET_KEY=sk_live_browserTestSecret0042
"""


@pytest.fixture
def setup(transactional_db, user_factory):
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    dev = EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    ProviderDeploymentFactory(environment=dev, identifier="dev:wary-ferret-59")
    ProviderDeploymentFactory(environment=prod, identifier="prod:basic-oriole-337")
    operator = user_factory("operator", username="otto")
    approver = user_factory("approver", username="anna")
    return project, prod, operator, approver


def test_import_into_production_needs_a_second_person(page, live_server, login, setup):
    project, prod, operator, approver = setup

    login(operator)
    page.goto(f"{live_server.url}{prod.get_absolute_url()}")
    assert page.get_by_test_id("protected").is_visible()
    page.get_by_role("link", name="Import .env").click()
    page.fill("#id_text", ENV_TEXT)
    page.fill("#id_reason", "Point production at its own Convex deployment")
    page.get_by_role("button", name="Preview").click()
    counts = page.get_by_test_id("import-counts")
    assert "2 added" in counts.inner_text()
    preview = page.get_by_test_id("import-preview").inner_text()
    assert "CLERK_SECRET_KEY" in preview and "browserTestSecret" not in preview
    page.get_by_test_id("apply-import").click()

    page.wait_for_url("**/change-requests/*/")
    assert page.get_by_test_id("cr-status").inner_text() == "Waiting for approval"
    assert "another approver must decide" in page.content()
    cr_url = page.url
    assert not prod.variables.exists()

    page.context.clear_cookies()
    login(approver)
    page.get_by_test_id("awaiting-me").get_by_role("link").first.click()
    assert page.url == cr_url
    diff = page.get_by_test_id("cr-diff").inner_text()
    assert "NEXT_PUBLIC_CONVEX_URL" in diff and "browserTestSecret" not in diff
    page.fill("#approve-reason", "checked against the deploy plan")
    page.fill("#approve-confirm", "prod")
    page.get_by_test_id("approve").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("cr-status").inner_text() == "Approved and applied"

    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    row = page.locator('[data-testid="matrix"] tr[data-key="NEXT_PUBLIC_CONVEX_URL"]')
    statuses = row.locator("td[data-status]").evaluate_all(
        "cells => cells.map(c => c.dataset.status)"
    )
    assert statuses == ["missing", "present"]
    assert "basic-oriole-337.convex.cloud" in row.inner_text()
    assert "browserTestSecret" not in page.content()
    # htmx swaps the matrix in place: both keys are missing in dev, so both are drift.
    page.get_by_role("link", name="Drift only 2").click()
    page.wait_for_url("**?drift=1")
    assert page.locator('[data-testid="matrix"] tr[data-key]').count() == 2
    assert AuditEvent.objects.filter(action="changerequest.applied", actor=approver).exists()


def test_matrix_filter_and_compare_form_keep_their_state_across_htmx_swaps(
    page, live_server, login, setup
):
    from urllib.parse import parse_qs, urlsplit

    from tests.environments.factories import ConfigVarFactory

    project, prod, operator, _ = setup
    dev = project.environments.get(name="dev")
    ConfigVarFactory(environment=dev, key="ONLY_IN_DEV", raw="1")
    ConfigVarFactory(environment=dev, key="SHARED_FLAG", raw="true")
    ConfigVarFactory(environment=prod, key="SHARED_FLAG", raw="true")

    login(operator)
    page.goto(f"{live_server.url}{project.get_absolute_url()}")
    filters = page.locator("#matrix-filter")
    page.get_by_role("link", name="Drift only 1").click()
    page.wait_for_url("**?drift=1")
    assert page.locator('[data-testid="matrix"] tr[data-key]').count() == 1
    assert filters.locator("a.active").inner_text().startswith("Drift only")
    page.get_by_role("link", name="All 2").click()
    page.wait_for_url(f"{live_server.url}{project.get_absolute_url()}")
    assert page.locator('[data-testid="matrix"] tr[data-key]').count() == 2
    assert filters.locator("a.active").inner_text().startswith("All")

    page.goto(f"{live_server.url}/environments/projects/{project.slug}/compare/")
    for source, target in ((dev, prod), (prod, dev)):
        page.select_option("#id_source", str(source.pk))
        page.select_option("#id_target", str(target.pk))
        page.get_by_role("button", name="Compare").click()
        page.wait_for_url(f"**/compare/?source={source.pk}&target={target.pk}")
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"source": [str(prod.pk)], "target": [str(dev.pk)]}
    area = page.locator("#checklist-area").inner_text()
    assert f"so it matches {prod.name}" in area
