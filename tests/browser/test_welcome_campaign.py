"""Real browser: from an imported job's page to a welcome campaign — create, preview, dry run,
send with the typed confirmation, progress to 100 %, one message per member."""

from pathlib import Path

import pytest
from django.core import mail

from imports.models import Member
from mailings.models import Campaign
from opsportal.audit.models import AuditEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports" / "sejoli_en_seed7"


def campaign_mail(campaign) -> list:
    """The campaign's messages in the outbox (notifications of the import share it)."""
    prefix = f"<c{campaign.pk}."
    return [m for m in mail.outbox if m.extra_headers.get("Message-ID", "").startswith(prefix)]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_imported_job_to_campaign_preview_send_and_progress(page, live_server, login, user_factory):
    from imports import services

    operator = user_factory("operator")
    users = services.job_create(
        actor=operator, data=(FIXTURES / "users.csv").read_bytes(), name="users.csv",
        validate="now",
    )  # fmt: skip
    services.job_confirm(actor=operator, job=users, enqueue=False)
    services.job_apply(job_id=users.pk)
    with_email = Member.objects.exclude(email__isnull=True).exclude(email="").count()
    assert with_email > 50

    login(operator)
    page.goto(f"{live_server.url}/imports/jobs/{users.pk}/")
    page.click("#new-campaign")
    page.wait_for_url("**/mailings/new/?job=*")
    page.fill("#id_rate", "0")
    page.click("button:has-text('Save draft')")
    page.wait_for_url("**/mailings/*/")
    campaign = Campaign.objects.get()
    assert campaign.job_id == users.pk
    assert page.locator(".preview-message").count() == 5
    assert "Unsubscribe: http" in page.locator(".preview-body").first.inner_text()
    assert not campaign_mail(campaign)

    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#dry-run")
    assert page.inner_text("#dry-run [data-count='to_send']") == str(with_email)

    page.fill("#confirm-send", str(campaign.pk))
    page.click("button:has-text('Send')")
    page.wait_for_selector("#campaign-progress[data-status='completed']")
    bar = page.locator("#campaign-progress .progress")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert "100 %" in page.inner_text("#campaign-progress")
    sent = campaign_mail(campaign)
    assert len(sent) == with_email
    assert len({m.to[0] for m in sent}) == with_email
    assert AuditEvent.objects.get(action="mailing.campaign.started").actor == operator
    assert AuditEvent.objects.filter(action="mailing.campaign.completed").count() == 1

    page.goto(f"{live_server.url}/imports/jobs/{users.pk}/")
    assert "100 %" in page.inner_text("#job-campaigns + table")
