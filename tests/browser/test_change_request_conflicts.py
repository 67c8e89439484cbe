"""Real browser: two change requests on the same production variable. The second shows the
conflict on the form and on its page; a third person applies the first; the second becomes
stale, says so, and leaves the approver's queue."""

import pytest

from environments.choices import ChangeRequestStatus, Tier
from environments.models import ChangeRequest
from opsportal.audit.models import AuditEvent
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = [pytest.mark.browser]


@pytest.fixture
def setup(transactional_db, user_factory):
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    var = ConfigVarFactory(environment=prod, key="FEATURE_FLAG", raw="off")
    return {
        "prod": prod,
        "var": var,
        "otto": user_factory("operator", username="otto"),
        "anna": user_factory("approver", username="anna"),
        "alex": user_factory("approver", username="alex"),
    }


def _edit(page, live_server, var, value, reason):
    page.goto(f"{live_server.url}/environments/variables/{var.pk}/edit/")
    page.fill("#id_value", value)
    page.select_option("#id_secret", "no")
    page.fill("#id_reason", reason)
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/change-requests/*/")


def test_conflicting_requests_then_one_applies_and_the_other_goes_stale(
    page, live_server, login, setup
):
    var = setup["var"]
    login(setup["otto"])
    _edit(page, live_server, var, "on", "turn it on for the launch")
    first = ChangeRequest.objects.get()
    assert page.get_by_test_id("cr-conflicts").count() == 0

    page.context.clear_cookies()
    login(setup["anna"])
    # the form already names the open request on this variable
    page.goto(f"{live_server.url}/environments/variables/{var.pk}/edit/")
    assert f"#{first.pk}" in page.get_by_test_id("open-requests").inner_text()
    _edit(page, live_server, var, "beta", "beta first")
    second = ChangeRequest.objects.exclude(pk=first.pk).get()
    conflict = page.get_by_test_id(f"cr-conflict-{first.pk}")
    assert "FEATURE_FLAG" in conflict.inner_text() and "otto" in conflict.inner_text()
    # anna is an approver: she could supersede otto's request with hers
    assert page.get_by_test_id(f"supersede-{first.pk}").is_visible()

    page.context.clear_cookies()
    login(setup["alex"])
    page.goto(f"{live_server.url}/notifications/waiting/")
    queue = page.content()
    assert first.get_absolute_url() in queue and second.get_absolute_url() in queue
    page.goto(f"{live_server.url}{first.get_absolute_url()}")
    assert page.get_by_test_id(f"cr-conflict-{second.pk}").is_visible()
    # a wrong confirmation keeps the note
    page.fill("#approve-reason", "checked with the launch team")
    page.fill("#approve-confirm", "staging")
    page.get_by_test_id("approve").click()
    page.wait_for_load_state()
    assert page.input_value("#approve-reason") == "checked with the launch team"
    assert "Type prod to confirm" in page.content()
    page.fill("#approve-confirm", "prod")
    page.get_by_test_id("approve").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("cr-status").inner_text() == "Approved and applied"

    page.goto(f"{live_server.url}{second.get_absolute_url()}")
    assert page.get_by_test_id("cr-status").inner_text() == "Stale: prepare it again"
    assert f"#{first.pk}" in page.get_by_test_id("cr-replaced").inner_text()
    assert page.get_by_test_id("approve").count() == 0
    page.goto(f"{live_server.url}/notifications/waiting/")
    assert second.get_absolute_url() not in page.content()

    second.refresh_from_db()
    assert second.status == ChangeRequestStatus.STALE
    stale = AuditEvent.objects.get(action="changerequest.stale", target_id=str(second.pk))
    assert stale.actor == setup["alex"] and stale.changes["replaced_by"] == first.pk
