"""Log in through the real form, see the dashboard, open the audit log, filter by operator."""

import pytest
from django.db import transaction

from opsportal.audit.services import record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_dashboard_and_audit_filter(page, live_server, login, user_factory):
    viewer = user_factory("viewer", username="vera")
    other = user_factory("operator", username="otto")
    with transaction.atomic():
        record(actor=other, action="configvar.updated", target_repr="OTTO_CHANGED_THIS")

    page.goto(f"{live_server.url}/audit/")
    assert "/accounts/login/" in page.url  # anonymous visitors are sent to the login page

    login(viewer)
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_text("Recent activity").is_visible()
    assert page.get_by_text("OTTO_CHANGED_THIS").is_visible()

    page.get_by_role("link", name="Audit", exact=True).click()
    page.wait_for_url(f"{live_server.url}/audit/")
    table = page.get_by_test_id("audit-table")
    assert table.get_by_text("auth.login.succeeded").is_visible()

    page.select_option("#id_operator", "otto")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?operator=otto*")
    rows = table.locator("tbody tr")
    assert rows.count() == 1
    assert "OTTO_CHANGED_THIS" in rows.first.inner_text()
    assert "auth.login.succeeded" not in table.inner_text()


def test_pages_log_no_console_errors_and_on_behalf_links_open(
    page, live_server, login, user_factory
):
    viewer = user_factory("viewer", username="vera")
    otto = user_factory("operator", username="otto")
    with transaction.atomic():
        record(actor=None, on_behalf_of=otto, action="runbook.check.passed", target_repr="hc")
    errors, failed = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)

    login(viewer)
    page.goto(f"{live_server.url}/audit/")
    page.get_by_role("link", name="system on behalf of otto").first.click()
    page.wait_for_url(f"{live_server.url}/audit/operators/otto/")
    assert page.get_by_text("runbook.check.passed").is_visible()
    assert errors == [] and failed == []
