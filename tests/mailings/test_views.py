"""Campaign pages: create from an import's page, preview, dry run, typed confirmation to send,
progress polling, the job page and the dashboard; viewers read only."""

import pytest

from mailings.choices import CampaignStatus
from mailings.models import Campaign
from opsportal.audit.models import AuditEvent

from .factories import make_campaign, make_job, make_members

pytestmark = pytest.mark.django_db


def test_create_preview_dry_run_and_send_through_the_pages(client_for):
    client, operator = client_for("operator")
    job = make_job()
    make_members(4, job=job)
    page = client.get(f"/mailings/new/?job={job.pk}")
    assert page.status_code == 200
    assert page.context["form"].initial["job"] == job.pk

    bad = client.post("/mailings/new/", {"name": "W", "job": job.pk, "subject_template": "Hi",
                                         "body_template": "{{ password }}"})  # fmt: skip
    assert bad.status_code == 200 and "Unknown field" in bad.content.decode()
    assert not Campaign.objects.exists()

    response = client.post(
        "/mailings/new/",
        {"name": "Welcome", "job": job.pk, "subject_template": "Hi {{ first_name }}",
         "body_template": "Hello {{ name }}", "rate": "0"},
    )  # fmt: skip
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    detail = client.get(campaign.get_absolute_url())
    text = detail.content.decode()
    assert text.count('class="card mb-2 preview-message"') == 4
    assert "Hello Member Number0" in text

    client.post(f"/mailings/{campaign.pk}/dry-run/")
    assert Campaign.objects.get().dry_run["to_send"] == 4
    assert 'data-count="to_send">4<' in client.get(campaign.get_absolute_url()).content.decode()

    client.post(f"/mailings/{campaign.pk}/start/", {"confirm": "nope"})
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    client.post(f"/mailings/{campaign.pk}/start/", {"confirm": str(campaign.pk)})
    assert Campaign.objects.get().status == CampaignStatus.QUEUED
    assert AuditEvent.objects.get(action="mailing.campaign.started").actor == operator

    poll = client.get(
        campaign.get_absolute_url() + "?part=progress", headers={"HX-Request": "true"}
    )
    assert b'id="campaign-progress"' in poll.content and b"hx-get" in poll.content

    client.post(f"/mailings/{campaign.pk}/pause/", {"reason": "later"})
    assert Campaign.objects.get().status == CampaignStatus.PAUSED
    client.post(f"/mailings/{campaign.pk}/cancel/", {"reason": "never mind"})
    assert Campaign.objects.get().status == CampaignStatus.CANCELLED
    assert AuditEvent.objects.get(action="mailing.campaign.cancelled").message == "never mind"


def test_the_job_page_and_the_dashboard_show_campaigns(client_for):
    client, operator = client_for("operator")
    job = make_job()
    make_members(2, job=job)
    campaign = make_campaign(operator, job=job, name="Welcome home")
    from mailings import services

    services.campaign_start(actor=operator, campaign=campaign, enqueue=False)
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'id="job-campaigns"' in page and "Welcome home" in page
    assert f"/mailings/new/?job={job.pk}" in page
    dashboard = client.get("/").content.decode()
    assert 'id="dashboard-campaigns"' in dashboard and "Welcome home" in dashboard
    listing = client.get("/mailings/").content.decode()
    assert "Welcome home" in listing


def test_viewers_read_but_cannot_create_or_send(client_for, user_factory):
    operator = user_factory("operator")
    campaign = make_campaign(operator)
    client, _ = client_for("viewer")
    assert client.get("/mailings/").status_code == 200
    assert client.get(campaign.get_absolute_url()).status_code == 200
    assert client.get("/mailings/new/").status_code == 403
    start = client.post(f"/mailings/{campaign.pk}/start/", {"confirm": campaign.pk})
    assert start.status_code == 403
    assert Campaign.objects.get().status == CampaignStatus.DRAFT
    assert not AuditEvent.objects.filter(action="mailing.campaign.started").exists()


def test_campaign_pages_stay_within_the_query_budget(client_for, django_assert_max_num_queries):
    from mailings import services
    from opsportal.hotpages import QUERY_BUDGET

    client, operator = client_for("operator")
    job = make_job()
    make_members(150, job=job)
    draft = make_campaign(operator, job=job, name="Draft")  # preview of five members
    started = make_campaign(operator, job=job, name="Started")
    services.campaign_start(actor=operator, campaign=started, enqueue=False)
    for url in (
        "/mailings/",
        draft.get_absolute_url(),
        started.get_absolute_url(),
        started.get_absolute_url() + "?status=queued",
        job.get_absolute_url(),
    ):
        with django_assert_max_num_queries(QUERY_BUDGET):
            assert client.get(url).status_code == 200, url
