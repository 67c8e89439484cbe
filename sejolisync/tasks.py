"""django-q2 entry points (thin): load by id, call a service."""

from opsportal.tasking import masks_failures

from . import services


@masks_failures
def process_delivery(delivery_id: int) -> None:
    services.delivery_process(delivery_id=delivery_id)


@masks_failures
def sweep() -> None:
    """Every minute (a django-q2 schedule created by migration 0002)."""
    services.deliveries_sweep()
