"""Login, lockout and their audit trail."""

import pytest
from django.urls import reverse

from opsportal.audit.models import AuditEvent
from tests.factories import PASSWORD


@pytest.mark.django_db
def test_login_success_is_audited_with_request_context(client, user_factory):
    user = user_factory("operator")
    response = client.post(
        reverse("login"),
        {"username": user.username, "password": PASSWORD},
        HTTP_USER_AGENT="pytest-agent",
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-123"
    event = AuditEvent.objects.get(action="auth.login.succeeded")
    assert event.actor == user
    assert (event.ip, event.user_agent, event.request_id) == (
        "127.0.0.1",
        "pytest-agent",
        "req-123",
    )


@pytest.mark.django_db
def test_failed_logins_lock_out_and_are_audited(client, user_factory, settings):
    user = user_factory("operator")
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = client.post(reverse("login"), {"username": user.username, "password": "nope"})
        assert response.status_code == 200
        assert b"Please enter a correct username and password" in response.content
    response = client.post(reverse("login"), {"username": user.username, "password": "nope"})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content

    # The right password no longer helps while locked out.
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert not AuditEvent.objects.filter(action="auth.login.succeeded").exists()

    failed = AuditEvent.objects.filter(action="auth.login.failed")
    assert failed.count() >= limit
    assert set(failed.values_list("target_repr", flat=True)) == {user.username}
    locked = AuditEvent.objects.filter(action="auth.login.locked_out")
    assert locked.exists()
    assert set(locked.values_list("target_repr", flat=True)) == {user.username}
    assert "nope" not in str(list(AuditEvent.objects.values()))


@pytest.mark.django_db
def test_logout_is_audited(client_for):
    client, user = client_for("viewer")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="auth.logout", actor=user).exists()


@pytest.mark.django_db
def test_password_change_page_works(client_for):
    client, user = client_for("viewer")
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-longer-passphrase-7",
            "new_password2": "a-much-longer-passphrase-7",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-much-longer-passphrase-7")
    event = AuditEvent.objects.get(action="auth.password.changed")
    assert event.actor == user
    assert "passphrase" not in str(event.changes)
    assert client.get("/").status_code == 200  # the session survives the change
