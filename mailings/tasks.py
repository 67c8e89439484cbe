"""django-q2 entry points (thin): load by id, call a service. They run on the imports cluster."""

from opsportal.tasking import masks_failures

from . import services


@masks_failures
def send_campaign(campaign_id: int) -> None:
    services.campaign_send(campaign_id=campaign_id)
