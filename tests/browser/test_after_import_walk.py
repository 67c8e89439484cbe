"""Real browser, the migration's last phase in one walk: upload and apply an import → verify a
sample of it → a welcome campaign over its members: preview → send → progress 100 %."""

from pathlib import Path

import pytest
from django.core import mail

from imports.models import ImportJob, Member, SampleVerification
from mailings.models import Campaign
from opsportal.audit.models import AuditEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports" / "sejoli_en_seed7"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_import_then_verify_a_sample_then_welcome_the_members(
    page, live_server, login, user_factory
):
    operator = user_factory("operator")
    login(operator)

    # 1. The import, as an operator does it.
    page.goto(f"{live_server.url}/imports/")
    page.set_input_files("#id_file", str(FIXTURES / "users.csv"))
    page.click("button:has-text('Upload and validate')")
    page.wait_for_url("**/imports/jobs/*/")
    page.click("button:has-text('Confirm and apply')")
    page.wait_for_selector("#job-progress[data-status='completed']")
    job = ImportJob.objects.get(original_name="users.csv")
    job_url = f"{live_server.url}{job.get_absolute_url()}"
    members = Member.objects.count()
    assert members > 50

    # 2. A sample of it, checked member by member and signed.
    page.click("#start-verification")
    page.fill("#id_size", "2")
    page.fill("#id_seed", "31")
    page.click("button:has-text('Draw the sample')")
    page.wait_for_url("**/imports/verifications/*/")
    page.wait_for_selector("#verification-items")  # drawn by the imports worker
    verification = SampleVerification.objects.get()
    assert verification.seed == 31 and verification.items.count() == 2
    page.click("a:has-text('Check the next member')")
    page.wait_for_url("**/members/1/")
    assert page.locator("#sources [data-file='users.csv']").count() >= 1
    page.click("#mark-form button[value=correct]")
    page.wait_for_url("**/members/2/")
    page.click("#mark-form button[value=correct]")
    page.wait_for_url(f"**/imports/verifications/{verification.pk}/")
    assert "2 correct" in page.inner_text("#verification-counts")
    page.click("button:has-text('Complete and sign the report')")
    page.wait_for_url(f"**/imports/verifications/{verification.pk}/report/")
    verification.refresh_from_db()
    assert page.inner_text("#report-hash") == verification.content_hash
    assert AuditEvent.objects.get(action="import.verification.completed").actor == operator

    # 3. The welcome campaign over the same job's members.
    page.goto(job_url)
    page.click("#new-campaign")
    page.wait_for_url("**/mailings/new/?job=*")
    page.fill("#id_rate", "0")
    page.click("button:has-text('Save draft')")
    page.wait_for_url("**/mailings/*/")
    campaign = Campaign.objects.get()
    assert campaign.job_id == job.pk
    assert page.locator(".preview-message").count() == 5
    outbox_before = len(mail.outbox)
    page.fill("#confirm-send", str(campaign.pk))
    page.click("button:has-text('Send')")
    page.wait_for_selector("#campaign-progress[data-status='completed']")
    assert page.locator("#campaign-progress .progress").get_attribute("aria-valuenow") == "100"
    prefix = f"<c{campaign.pk}."
    sent = [
        m
        for m in mail.outbox[outbox_before:]
        if m.extra_headers.get("Message-ID", "").startswith(prefix)
    ]
    with_email = Member.objects.exclude(email__isnull=True).exclude(email="").count()
    assert len(sent) == len({m.to[0] for m in sent}) == with_email
    assert AuditEvent.objects.filter(action="mailing.campaign.completed").count() == 1

    # The job's page tells the whole story.
    page.goto(job_url)
    assert "2 correct" in page.inner_text("#job-verifications")
    assert "100 %" in page.inner_text("#job-campaigns + table")
