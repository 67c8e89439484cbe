"""django-q2 entry points: thin, ids in, nothing out (what a task returns is stored)."""

from django.utils import timezone

from opsportal.tasking import masks_failures

from . import engine, sending


@masks_failures
def process_events() -> None:
    engine.process_events()


@masks_failures
def send_delivery(delivery_id: int) -> None:
    sending.deliver(delivery_id)


@masks_failures
def send_digest(recipient_id: int, due_before=None) -> None:
    sending.send_digest(recipient_id, due_before=due_before)


@masks_failures
def tick() -> None:
    """Every minute: events a lost callback left behind, retries and digests that are due."""
    engine.tick(timezone.now())


@masks_failures
def scan() -> None:
    """Daily: what time brought (rotations falling due)."""
    engine.scan(timezone.now())


@masks_failures
def verify_audit() -> None:
    """Daily: verify the audit chain; a broken chain is recorded, and admins hear of it."""
    engine.verify_audit()
