"""A rotation campaign from a hygiene finding to 100 %; an access review to its signed report."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance import services
from compliance.models import AccessReview, RotationCampaign
from environments.choices import Tier
from opsportal.audit.models import AuditEvent
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_rotation_campaign_from_finding_to_100_percent(page, live_server, login, user_factory):
    operator = user_factory("operator", username="olga")
    dev = EnvironmentFactory(name="dev", tier=Tier.DEVELOPMENT)
    var = ConfigVarFactory(
        environment=dev,
        key="WEBHOOK_SECRET",
        raw="whsec_" + "R0t4t3Me" * 4,
        rotation_period_days=30,
        last_rotated_at=timezone.now() - timedelta(days=45),
    )
    login(operator)
    page.goto(f"{live_server.url}{dev.get_absolute_url()}")
    page.click("[data-testid=start-campaign-WEBHOOK_SECRET]")
    page.wait_for_selector("[data-testid=campaign-progress]")
    assert "0/1 done (0 %)" in page.inner_text("[data-testid=campaign-progress]")
    campaign = RotationCampaign.objects.get()

    # rotate the secret on the environments page (only its fingerprint is recorded)
    page.goto(f"{live_server.url}/environments/variables/{var.pk}/rotate/")
    page.fill("#id_new_value", "whsec_" + "N3wV4lue" * 4)
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    page.goto(f"{live_server.url}{campaign.get_absolute_url()}")
    assert "1/1 done (100 %)" in page.inner_text("[data-testid=campaign-progress]")
    row = page.locator("[data-testid=campaign-items] tbody tr").first
    assert "Rotated" in row.inner_text() and "olga" in row.inner_text()

    report = page.request.get(f"{live_server.url}/compliance/campaigns/{campaign.pk}/export/md/")
    assert report.ok and "## Rotated (1)" in report.text() and "olga" in report.text()

    page.click("[data-testid=close-campaign] button")
    page.wait_for_selector("text=Campaign closed.")
    assert (
        AuditEvent.objects.filter(
            action__in=[
                "rotation.campaign.created",
                "configvar.rotated",
                "rotation.campaign.closed",
            ]
        ).count()
        == 3
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_access_review_to_its_signed_report(page, live_server, login, user_factory):
    alice = user_factory("admin", username="alice")
    bob = user_factory("admin", username="bob")
    olga = user_factory("operator", username="olga")
    login(alice)
    page.goto(f"{live_server.url}/compliance/")
    page.click("[data-testid=review-start] button")
    page.wait_for_selector("[data-testid=review-lines]")
    review = AccessReview.objects.get()

    own = page.locator("tr[data-user=alice]")
    assert "waits for another admin" in own.inner_text()

    olga_row = page.locator("tr[data-user=olga]")
    olga_row.locator("select[name=decision]").select_option("revoke")
    olga_row.locator("input[name=note]").fill("left the team")
    olga_row.locator("button").click()
    page.wait_for_selector("tr[data-user=olga] >> text=Revoke")
    olga.refresh_from_db()
    assert not olga.is_active

    bob_row = page.locator("tr[data-user=bob]")
    bob_row.locator("input[name=note]").fill("on call")
    bob_row.locator("button").click()
    page.wait_for_selector("tr[data-user=bob] >> text=Keep")

    # completing now is refused: alice's own line waits for another admin
    page.click("[data-testid=complete-review]")
    page.wait_for_selector("text=another admin must decide it")
    services.access_review_decide(
        actor=bob, line=review.lines.get(user=alice), decision="keep", note="still admin"
    )
    page.reload()
    page.click("[data-testid=complete-review]")
    page.wait_for_selector("[data-testid=review-signed]")
    review.refresh_from_db()
    assert review.report_sha256 in page.inner_text("[data-testid=review-signed]")

    report = page.request.get(f"{live_server.url}/compliance/reviews/{review.pk}/export/md/")
    text = report.text()
    assert report.ok and review.report_sha256 in text and "left the team" in text
    assert "1 revoked" in text
    assert AuditEvent.objects.filter(action="access_review.completed").count() == 1
