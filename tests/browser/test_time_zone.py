"""A user picks their time zone in the browser: the browser's own zone is offered, and after
saving every time on the portal carries that zone's offset."""

import pytest

from opsportal.audit.models import AuditEvent

from ..factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_browsers_zone_is_offered_and_used(browser, live_server, user_factory, settings):
    settings.TIME_ZONE = "UTC"
    user = user_factory("viewer", username="wulan")
    context = browser.new_context(
        timezone_id="Asia/Makassar", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        page.get_by_test_id("user-menu").click()
        page.get_by_role("link", name="Time zone").click()
        first = page.locator("time").first.get_attribute("datetime")
        assert first.endswith("+00:00")

        offer = page.locator("[data-browser-zone-offer]")
        offer.wait_for(state="visible")
        assert "Asia/Makassar" in offer.inner_text()
        offer.get_by_role("button", name="Use it").click()
        assert page.locator("#id_time_zone").input_value() == "Asia/Makassar"
        page.get_by_role("button", name="Save").click()

        page.get_by_text("Saved: times are shown in Asia/Makassar.").wait_for()
        assert page.locator("time").first.get_attribute("datetime").endswith("+08:00")
        assert not offer.is_visible()  # the browser's zone is the chosen one now
        assert AuditEvent.objects.filter(action="auth.settings.changed", actor=user).count() == 1
        assert not errors
    finally:
        context.close()
