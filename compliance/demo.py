"""Demo data: a rotation campaign over makalah.ai's production secrets, owned by the operator,
due in two weeks, with one secret waived — so the dashboard, the campaign page and the calendar
have something to show. Through the services; loaded once."""

from datetime import timedelta

from django.utils import timezone

from environments.models import Environment

from . import services
from .choices import Scope
from .models import RotationCampaign


def load(*, users: dict, stdout) -> None:
    if RotationCampaign.objects.exists():
        return
    env = Environment.objects.filter(project__slug="makalah-ai", name="prod").first()
    if env is None or not env.variables.filter(is_secret=True, has_value=True).exists():
        return
    operator = users["operator"]
    campaign = services.rotation_campaign_create(
        actor=operator,
        scope=Scope.ENVIRONMENT,
        environment=env,
        owner=operator,
        due_date=timezone.localdate() + timedelta(days=14),
        title="Quarterly rotation: makalah.ai production",
        reason="Quarterly maintenance: review and rotate secrets.",
    )
    item = campaign.items.order_by("key").first()
    services.rotation_item_waive(
        actor=operator, item=item, reason="Rotated by the provider on its own schedule."
    )
    stdout.write(f"Rotation campaign: {campaign.items.count()} secrets of {env}.")
