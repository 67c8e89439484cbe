"""Real browser: "who changed prod?" — the audit log filtered by the production environment,
the ``configvar.updated`` event, its change request, and the person who asked for it."""

import pytest

from environments import services
from environments.choices import Tier
from opsportal.audit.middleware import request_context
from opsportal.audit.models import AuditEvent
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = [pytest.mark.browser]

OLD_KEY = "sk_live_" + "whoChangedProdOld0042xyz"
NEW_KEY = "sk_live_" + "whoChangedProdNew0077abc"


@pytest.fixture
def story(transactional_db, user_factory):
    """otto asks to add, then to change STRIPE_SECRET_KEY in prod; anna approves both.
    The same key changes in dev too, where nobody needs to approve."""
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    dev = EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    otto = user_factory("operator", username="otto")
    anna = user_factory("approver", username="anna")
    vera = user_factory("viewer", username="vera")
    services.configvar_save(actor=otto, environment=dev, key="STRIPE_SECRET_KEY", value=NEW_KEY)
    first = services.configvar_save(
        actor=otto, environment=prod, key="STRIPE_SECRET_KEY", value=OLD_KEY, reason="go live"
    ).change_request
    with request_context(request_id="req-first"):
        services.changerequest_approve(actor=anna, change_request=first)
    cr = services.configvar_save(
        actor=otto,
        environment=prod,
        key="STRIPE_SECRET_KEY",
        value=NEW_KEY,
        reason="rotate after the key showed up in a log",
    ).change_request
    with request_context(request_id="req-rotate"):
        services.changerequest_approve(actor=anna, change_request=cr, reason="confirmed")
    event = AuditEvent.objects.get(action="configvar.updated", environment=prod)
    assert event.changes["change_request"] == cr.pk
    return prod, cr, event, vera


def test_who_changed_prod(page, live_server, login, story):
    prod, cr, event, viewer = story
    login(viewer)
    page.goto(f"{live_server.url}/audit/")

    # filter by the production environment, and pick the action from the grouped list
    page.select_option("#id_environment", str(prod.pk))
    assert page.locator("#id_action optgroup[label=configvar]").count() == 1
    page.select_option("#id_action", "configvar.updated")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(f"**/audit/?*environment={prod.pk}*")
    table = page.get_by_test_id("audit-table")
    rows = table.locator("tbody tr")
    assert rows.count() == 1  # dev's change and prod's creation are filtered out
    assert "STRIPE_SECRET_KEY" in rows.first.inner_text()
    assert "anna" in rows.first.inner_text()

    # the event: who approved, who asked, what changed (never the value)
    rows.first.get_by_role("link", name=str(event.seq)).click()
    page.wait_for_url(f"**/audit/events/{event.seq}/")
    assert page.get_by_test_id("event-approver").inner_text() == "anna"
    assert page.get_by_test_id("event-requester").inner_text() == "otto"
    assert "fingerprint changed" in page.get_by_test_id("event-diff").inner_text()
    assert not page.get_by_test_id("event-raw").evaluate("el => el.open")  # JSON folded
    html = page.content()
    assert OLD_KEY not in html and NEW_KEY not in html

    # the change request it applied, and the person who asked for it
    page.get_by_test_id("ref-change_request").click()
    page.wait_for_url(f"**{cr.get_absolute_url()}")
    assert page.locator("dt:text-is('Author') + dd").inner_text().startswith("otto")
    assert "rotate after the key showed up in a log" in page.content()
