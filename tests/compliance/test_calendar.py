"""Campaign due dates and access reviews on the operations calendar."""

from datetime import timedelta

import pytest
from django.utils import timezone

from compliance import calendar, services
from compliance.choices import Scope
from compliance.reviews import bounds

pytestmark = pytest.mark.django_db


def test_campaign_and_review_due_dates_on_the_calendar(users, dev, secrets_dev, client_for):
    client, admin = client_for("admin")
    due = timezone.localdate() + timedelta(days=3)
    campaign = services.rotation_campaign_create(
        actor=admin, scope=Scope.ENVIRONMENT, environment=dev, owner=admin, due_date=due
    )
    start, end = bounds(timezone.localdate() - timedelta(days=1), due + timedelta(days=1))
    entries = calendar.entries(admin, start, end)
    kinds = {e.kind: e for e in entries}
    assert kinds["Rotation campaign"].url == campaign.get_absolute_url()
    assert kinds["Rotation campaign"].detail == "0 of 3 done"
    assert kinds["Access review"].title == "Access review due"  # none yet: due today
    # an operator sees the campaign, not the reviews
    assert [e.kind for e in calendar.entries(users["operator"], start, end)] == [
        "Rotation campaign"
    ]
    assert calendar.entries(users["viewer"], start, end)[0].kind == "Rotation campaign"
    page = client.get(f"/calendar/?month={due:%Y-%m}&view=list")
    assert page.status_code == 200 and campaign.title.encode() in page.content
