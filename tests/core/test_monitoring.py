"""`/healthz` for load balancers and `manage.py portal_status` for monitoring."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import OrmQ, Task

from opsportal import monitoring
from opsportal.audit.services import record

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_checkpoint_key(settings):
    """Without a signing key checkpoints are off: a warning, not a problem. Tests of the
    checkpoint status set one."""
    settings.AUDIT_SIGNING_KEY = ""


def status(*args) -> tuple[int, dict | str, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("portal_status", *args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exc:
        code = exc.code
    text = out.getvalue()
    return code, (json.loads(text) if "--json" in args and text else text), err.getvalue()


def test_healthz_answers_without_a_login_and_says_nothing_else(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "roles": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable(client, monkeypatch):
    monkeypatch.setattr("opsportal.views.database_ok", lambda: False)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["status"] == "database unavailable"


def test_database_ok_reports_a_failing_connection(monkeypatch):
    from django.db import DatabaseError, connection

    def broken():
        raise DatabaseError("server closed the connection unexpectedly")

    assert monitoring.database_ok()
    monkeypatch.setattr(connection, "cursor", broken)
    assert not monitoring.database_ok()


def test_status_is_clean_on_a_quiet_portal():
    code, data, err = status("--json")
    assert code == 0, err
    assert data["database"] == "ok"
    assert data["queues"] == {} and data["problems"] == []


def test_status_flags_a_task_nobody_picks_up(user_factory):
    now = timezone.now()
    OrmQ.objects.create(key="opsportal", payload="-", lock=now - timedelta(minutes=10))
    OrmQ.objects.create(key="imports", payload="-", lock=now + timedelta(minutes=50))  # running
    code, data, _ = status("--json")
    assert code == 1
    assert data["queues"]["opsportal"]["waiting"] == 1
    assert data["queues"]["opsportal"]["oldest_wait_seconds"] >= 600
    assert data["queues"]["imports"] == {
        "waiting": 0,
        "in_progress": 1,
        "oldest_wait_seconds": 0,
    }
    assert data["problems"] == [
        f"queue opsportal: a task has waited {data['queues']['opsportal']['oldest_wait_seconds']} "
        "s (is a worker running?)"
    ]
    # a longer allowance accepts the same wait
    code, data, _ = status("--json", "--max-wait", "3600")
    assert code == 0 and data["problems"] == []


def test_status_flags_failed_tasks_and_shows_the_audit_head(user_factory):
    now = timezone.now()
    for i in range(60):  # more than a page of them: the figure is a count, not a sample
        Task.objects.create(
            id=f"{i:032d}", name=f"t{i}", func="runbooks.tasks.run_check",
            started=now - timedelta(minutes=5), stopped=now - timedelta(minutes=5), success=False,
        )  # fmt: skip
    Task.objects.create(
        id="a" * 32, name="t", func="imports.tasks.apply_job", started=now, stopped=now,
        success=False,
    )  # fmt: skip
    from django.db import transaction

    with transaction.atomic():
        event = record(actor=user_factory("operator"), action="test.event")
    code, text, err = status()
    assert code == 1
    assert "failed tasks (24 h): 61" in text
    assert "queues: nothing queued" in text
    assert f"audit head: #{event.seq}" in text
    assert "61 task(s) failed in the last 24 h, the latest imports.tasks.apply_job" in err


def test_status_warns_without_a_signing_key_but_does_not_fail(settings):
    settings.AUDIT_SIGNING_KEY = ""
    code, data, _ = status("--json")
    assert code == 0
    assert data["audit_checkpoints"] == {"status": "off"}
    assert "AUDIT_SIGNING_KEY is not set" in data["warnings"][0]
    code, text, err = status()
    assert "audit checkpoints: off" in text and "WARNING: AUDIT_SIGNING_KEY" in err


def test_status_flags_missing_and_stale_checkpoints(settings, tmp_path, monkeypatch):
    import base64
    import os

    from opsportal.audit import checkpoints

    settings.AUDIT_SIGNING_KEY = base64.b64encode(os.urandom(32)).decode()
    settings.AUDIT_CHECKPOINT_DIR = tmp_path
    code, data, _ = status("--json")
    assert code == 1 and data["audit_checkpoints"] == {"status": "none"}
    assert data["problems"] == ["no audit checkpoint written yet (is the default worker running?)"]

    written = checkpoints.write_checkpoint()
    code, data, _ = status("--json")
    assert code == 0, data["problems"]
    assert data["audit_checkpoints"]["status"] == "ok"
    assert data["audit_checkpoints"]["seq"] == written["seq"]

    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    code, data, _ = status("--json")
    assert code == 1 and data["audit_checkpoints"]["status"] == "stale"
    assert data["problems"][0].startswith("the last audit checkpoint is 1")
