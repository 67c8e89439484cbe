from io import StringIO

import pytest
from django.core.management import call_command

from compliance.models import RotationCampaign
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_demo_campaign_loads_once_through_the_services(roles):
    call_command("load_demo", stdout=StringIO())
    campaign = RotationCampaign.objects.get()
    assert (
        campaign.items.count() > 1 and campaign.items.filter(waived_at__isnull=False).count() == 1
    )
    assert AuditEvent.objects.filter(action="rotation.campaign.created").count() == 1
    assert AuditEvent.objects.filter(action="rotation.item.waived").count() == 1
    call_command("load_demo", stdout=StringIO())
    assert RotationCampaign.objects.count() == 1
