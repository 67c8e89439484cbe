"""make run's demo history: enough deployments for every DORA figure, recorded through the
services (audited), and loading it twice adds nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from deployments import dora
from deployments.models import Deployment
from environments.models import Environment
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def test_demo_history_gives_every_figure(roles):
    call_command("load_demo", stdout=StringIO())
    count = Deployment.objects.count()
    assert count > 100
    assert AuditEvent.objects.filter(action="deployment.recorded").count() == count
    assert AuditEvent.objects.filter(action="deployment.rolled_back").count() == 1
    prod = Environment.objects.get(project__slug="makalah-ai", name="prod")
    figures = dora.figures([prod.pk], dora.last_days(30))
    assert figures.deployments > 10 and figures.per_day > 0.3
    assert figures.lead_time is not None and figures.failure_rate is not None
    assert figures.restore_time is not None
    sources = set(Deployment.objects.values_list("source", flat=True))
    assert sources == {"vercel_webhook", "render_webhook", "api"}

    call_command("load_demo", stdout=StringIO())
    assert Deployment.objects.count() == count
