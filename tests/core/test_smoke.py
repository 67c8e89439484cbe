import pytest
from django.urls import reverse

from opsportal.audit.models import AuditEvent


@pytest.mark.django_db
def test_dashboard_renders_for_viewer(client_for):
    client, _ = client_for("viewer")
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"Recent activity" in response.content
    # force_login fires user_logged_in: the login itself is on the record.
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["auth.login.succeeded"]
