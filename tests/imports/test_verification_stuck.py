"""A sample verification whose draw task was lost (stuck in "drawing"): portal_status names it,
its page says so and offers to queue the draw again, and the redraw opens the sample once."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from imports import services
from imports.choices import VerificationStatus
from imports.models import SampleVerification
from opsportal.audit.models import AuditEvent
from opsportal.monitoring import portal_status

from .factories import CLEAN, apply_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost_draw(user_factory, settings):
    """A verification started while its task never ran (the worker lost it), 31 minutes ago."""
    settings.IMPORTS_SAMPLE_DRAW_STUCK_MINUTES = 30
    op = user_factory("operator")
    job = apply_file(op, CLEAN / "users.csv")
    # the draw is queued on commit; not running that callback is the lost task
    ver = services.verification_start(actor=op, jobs=[job], size=10, seed=5)
    SampleVerification.objects.filter(pk=ver.pk).update(
        started_at=timezone.now() - timedelta(minutes=31)
    )
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.DRAWING
    return ver


def test_portal_status_names_a_draw_that_lost_its_task(lost_draw):
    status = portal_status()
    assert status["sample_draws_stuck"] == [lost_draw.pk]
    assert any(f"sample verification #{lost_draw.pk}" in p for p in status["problems"])


def test_a_fresh_draw_is_not_stuck_and_cannot_be_queued_again(user_factory, lost_draw):
    SampleVerification.objects.filter(pk=lost_draw.pk).update(started_at=timezone.now())
    lost_draw.refresh_from_db()
    assert portal_status()["sample_draws_stuck"] == []
    with pytest.raises(ValidationError, match="over 30 minutes"):
        services.verification_redraw(actor=user_factory("operator"), verification=lost_draw)
    assert not AuditEvent.objects.filter(action="import.verification.requeued").exists()


def test_the_page_offers_the_redraw_which_opens_the_sample(
    client_for, lost_draw, django_capture_on_commit_callbacks
):
    client, op = client_for("operator")
    page = client.get(lost_draw.get_absolute_url()).content.decode()
    assert 'data-status="stuck"' in page and 'data-testid="verification-redraw"' in page
    # the polled fragment says the same (and stops polling)
    fragment = client.get(f"{lost_draw.get_absolute_url()}?part=drawing").content.decode()
    assert 'data-status="stuck"' in fragment and "hx-trigger" not in fragment

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("imports:verification_redraw", args=[lost_draw.pk]))
    assert response.status_code == 302
    lost_draw.refresh_from_db()
    assert lost_draw.status == VerificationStatus.OPEN
    assert lost_draw.items.count() == 10
    event = AuditEvent.objects.get(action="import.verification.requeued")
    assert (event.actor, event.target_id) == (op, str(lost_draw.pk))
    assert AuditEvent.objects.filter(action="import.verification.drawn").count() == 1
    assert portal_status()["sample_draws_stuck"] == []

    # a second redraw of the now open verification is refused; the sample is not drawn twice
    with pytest.raises(ValidationError):
        services.verification_redraw(actor=op, verification=lost_draw)
    assert lost_draw.items.count() == 10


def test_a_viewer_cannot_queue_the_draw(client_for, user_factory, lost_draw):
    client, viewer = client_for("viewer")
    assert (
        'data-testid="verification-redraw"'
        not in client.get(lost_draw.get_absolute_url()).content.decode()
    )
    response = client.post(reverse("imports:verification_redraw", args=[lost_draw.pk]))
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        services.verification_redraw(actor=viewer, verification=lost_draw)
