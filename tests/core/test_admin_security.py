"""The admin is no back door: no code scheduled from it, and every user, role or lockout change
it still offers goes through an audited service (issue 14, item 3)."""

import json
from io import StringIO

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse
from django_q.models import Failure, Schedule

from opsportal.audit.models import AuditEvent

from ..factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_no_schedule_can_be_added_from_the_admin(client_for):
    client, _ = client_for("admin")
    before = Schedule.objects.count()  # the ones migrations create
    response = client.post(
        "/admin/django_q/schedule/add/",
        {
            "name": "pwn",
            "func": "subprocess.getoutput",
            "args": "'id > /tmp/pwned'",
            "schedule_type": "O",
            "repeats": "-1",
            "next_run_0": "2026-01-01",
            "next_run_1": "00:00:00",
            "cluster": "",
        },
    )
    assert response.status_code == 403
    assert Schedule.objects.count() == before
    assert not Schedule.objects.filter(func__startswith="subprocess").exists()
    changelist = client.get("/admin/django_q/schedule/")
    assert changelist.status_code == 200
    assert b"/admin/django_q/schedule/add/" not in changelist.content


def test_an_existing_schedule_cannot_be_changed_or_a_task_resubmitted(client_for):
    client, _ = client_for("admin")
    schedule = Schedule.objects.create(name="checkpoint", func="math.floor", args="1")
    response = client.post(
        f"/admin/django_q/schedule/{schedule.pk}/change/",
        {"name": "checkpoint", "func": "subprocess.getoutput", "schedule_type": "O"},
    )
    assert response.status_code == 403
    schedule.refresh_from_db()
    assert schedule.func == "math.floor"
    Failure.objects.create(id="f" * 32, name="x", func="math.floor", started="2026-01-01T00:00Z",
                           stopped="2026-01-01T00:00Z", success=False)  # fmt: skip
    response = client.post(
        "/admin/django_q/failure/",
        {"action": "resubmit_task", "_selected_action": ["f" * 32]},
    )
    assert Failure.objects.filter(pk="f" * 32).exists()  # no action ran (nor deleted it)
    assert b"resubmit_task" not in client.get("/admin/django_q/failure/").content


def test_a_password_set_in_the_admin_is_audited(client_for, user_factory):
    client, admin_user = client_for("admin")
    target = user_factory("operator", username="petra")
    new = "another-long-passphrase-7"
    response = client.post(
        f"/admin/auth/user/{target.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:2000]
    target.refresh_from_db()
    assert target.check_password(new)
    event = AuditEvent.objects.get(action="auth.user.password_set", target_id=str(target.pk))
    assert event.actor == admin_user
    assert event.changes == {"sign_in": "password changed"}
    assert new not in json.dumps(list(AuditEvent.objects.values("changes", "message")))


def test_role_permissions_cannot_be_edited_in_the_admin(client_for):
    client, _ = client_for("admin")
    viewer = Group.objects.get(name="viewer")
    before = set(viewer.permissions.values_list("pk", flat=True))
    extra = Permission.objects.get(codename="delete_user")
    response = client.post(
        f"/admin/auth/group/{viewer.pk}/change/",
        {"name": "viewer", "permissions": [*before, extra.pk]},
    )
    assert response.status_code == 403
    assert set(viewer.permissions.values_list("pk", flat=True)) == before
    assert client.post("/admin/auth/group/add/", {"name": "root"}).status_code == 403
    assert not Group.objects.filter(name="root").exists()


def test_per_user_permissions_are_not_handed_out_in_the_admin(client_for, user_factory):
    client, _ = client_for("admin")
    target = user_factory("viewer", username="quinn")
    extra = Permission.objects.get(codename="delete_user")
    response = client.post(
        f"/admin/auth/user/{target.pk}/change/",
        {
            "username": "quinn", "email": "quinn@example.com", "is_active": "on",
            "groups": [Group.objects.get(name="viewer").pk], "user_permissions": [extra.pk],
            "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00",
        },
    )  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    assert not target.user_permissions.exists()
    assert AuditEvent.objects.filter(action="auth.user.updated", target_id=str(target.pk)).exists()


def _lock_out(client, user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), {"username": user.username, "password": "nope"})
    response = client.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429


def test_unlocking_a_login_in_the_admin_is_audited(client, client_for, user_factory, settings):
    victim = user_factory("operator", username="rita")
    _lock_out(client, victim, settings)
    attempt = AccessAttempt.objects.get(username="rita")
    admin_client, admin_user = client_for("admin")
    response = admin_client.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="rita").exists()
    event = AuditEvent.objects.get(action="auth.lockout.cleared")
    assert event.actor == admin_user and event.target_repr == "rita"
    assert event.changes["attempts"] == 1 and event.changes["ip_addresses"] == ["127.0.0.1"]
    response = client.post(reverse("login"), {"username": "rita", "password": PASSWORD})
    assert response.status_code == 302  # unlocked


def test_the_unlock_action_is_audited_and_the_login_history_stays(
    client, client_for, user_factory, settings
):
    victim = user_factory("operator", username="sven")
    _lock_out(client, victim, settings)
    admin_client, admin_user = client_for("admin")
    attempt = AccessAttempt.objects.get(username="sven")
    response = admin_client.post(
        "/admin/axes/accessattempt/",
        {"action": "unlock_selected", "_selected_action": [attempt.pk]},
    )
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert AuditEvent.objects.get(action="auth.lockout.cleared").actor == admin_user
    # the expired-attempts clean-up (unaudited in axes) is not offered
    assert b"cleanup_expired_attempts" not in admin_client.get("/admin/axes/accessattempt/").content
    log = AccessLog.objects.create(username="sven", ip_address="127.0.0.1", user_agent="x")
    response = admin_client.post(f"/admin/axes/accesslog/{log.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AccessLog.objects.filter(pk=log.pk).exists()


def test_unlock_login_command_is_audited(client, user_factory, settings):
    victim = user_factory("operator", username="tess")
    _lock_out(client, victim, settings)
    out = StringIO()
    call_command("unlock_login", "tess", "--reason", "called the helpdesk", stdout=out)
    assert "Unlocked tess" in out.getvalue()
    event = AuditEvent.objects.get(action="auth.lockout.cleared")
    assert event.actor is None and event.target_repr == "tess"
    assert event.message == "called the helpdesk"
    assert event.user_agent == "manage.py unlock_login"
    response = client.post(reverse("login"), {"username": "tess", "password": PASSWORD})
    assert response.status_code == 302


def _status() -> tuple[int, dict]:
    out = StringIO()
    try:
        call_command("portal_status", "--json", stdout=out, stderr=StringIO())
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, json.loads(out.getvalue())


def test_a_role_drifting_from_the_code_is_reported_and_repaired(client, client_for, settings):
    settings.AUDIT_SIGNING_KEY = ""  # no checkpoints expected: the roles are the subject
    viewer = Group.objects.get(name="viewer")
    viewer.permissions.add(Permission.objects.get(codename="delete_user"))
    operator = Group.objects.get(name="operator")
    operator.permissions.remove(Permission.objects.get(codename="add_importjob"))

    code, data = _status()
    assert code == 1
    assert data["roles"]["status"] == "drift"
    assert data["roles"]["drift"] == {
        "viewer": {"missing": [], "extra": ["auth.delete_user"]},
        "operator": {"missing": ["imports.add_importjob"], "extra": []},
    }
    assert "role viewer differs from roles.py: extra auth.delete_user" in data["problems"]
    assert client.get("/healthz").json() == {"status": "ok", "roles": "drift"}
    staff, _ = client_for("admin")
    assert staff.get("/healthz").json()["roles_drift"]["viewer"]["extra"] == ["auth.delete_user"]

    out = StringIO()
    with pytest.raises(SystemExit):
        call_command("sync_roles", stdout=out)
    call_command("sync_roles", "--apply", stdout=out)
    event = AuditEvent.objects.get(action="auth.roles.synced")
    assert event.actor is None and event.changes["viewer"]["extra"] == ["auth.delete_user"]
    assert not viewer.permissions.filter(codename="delete_user").exists()
    code, data = _status()
    assert code == 0 and data["roles"] == {"status": "ok", "drift": {}}
