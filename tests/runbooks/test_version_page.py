"""The version page's per-step controls: move up/down in one form, edit link — each pointing at
the step's own URL (built from one reversed prefix), and a move through them is a new version."""

import re

import pytest
from django.urls import reverse

from opsportal.audit.models import AuditEvent
from runbooks.models import Step

pytestmark = pytest.mark.django_db


def test_each_step_links_its_own_move_and_edit_urls(client_for, version):
    client, user = client_for("operator")
    html = client.get(version.get_absolute_url()).content.decode()
    steps = list(Step.objects.filter(phase__version=version))
    assert steps
    for step in steps:
        move = reverse("runbooks:step_move", args=[step.pk])
        assert f'action="{move}"' in html
        assert f'href="{reverse("runbooks:step_edit", args=[step.pk])}"' in html
    form = re.search(
        r'<form method="post" action="{}".*?</form>'.format(
            re.escape(reverse("runbooks:step_move", args=[steps[1].pk]))
        ),
        html,
        re.S,
    ).group(0)
    assert 'name="csrfmiddlewaretoken"' in form
    assert 'name="direction" value="up"' in form and 'name="direction" value="down"' in form

    # the "up" button of the second step moves it, as a new version, audited
    second = steps[1]
    response = client.post(reverse("runbooks:step_move", args=[second.pk]), {"direction": "up"})
    assert response.status_code == 302
    event = AuditEvent.objects.filter(actor=user).latest("seq")
    assert event.action == "runbook.step.reordered"


def test_a_viewer_sees_no_step_controls(client_for, version):
    client, _ = client_for("viewer")
    html = client.get(version.get_absolute_url()).content.decode()
    assert "/move/" not in html and "/edit/" not in html
