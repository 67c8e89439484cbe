"""Schedule services: validation, permissions, and the audit event each write records."""

from datetime import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from operations import services
from operations.models import RunSchedule
from opsportal.audit.models import AuditEvent
from tests.factories import EnvironmentFactory

from .conftest import at

pytestmark = pytest.mark.django_db


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_create_records_the_schedule_and_its_first_period(make_schedule, operator, prod):
    schedule = make_schedule()
    assert schedule.owner == operator and schedule.active
    assert schedule.expression() == "0 9 * * 1"
    assert schedule.next_due_at == at("2026-11-30 09:00")
    [event] = events("schedule.created")
    assert event.actor == operator and event.environment == prod and event.tier == "production"
    assert event.target_type == "operations.runschedule" and event.target_id == str(schedule.pk)
    assert event.changes["expression"] == "0 9 * * 1"
    assert event.changes["owner"] == "olga" and event.changes["grace_hours"] == 4


def test_a_cron_schedule_validates_its_expression(make_schedule):
    with pytest.raises(ValidationError) as exc:
        make_schedule(frequency="cron", cron="0 9 * *")
    assert "5 fields" in exc.value.message_dict["cron"][0]
    with pytest.raises(ValidationError) as exc:
        make_schedule(frequency="cron", cron="*/5 9 * * mon")
    assert "at most hourly" in exc.value.message_dict["cron"][0]
    schedule = make_schedule(frequency="cron", cron="  30 6  * * mon-fri ")
    assert schedule.cron == "30 6 * * mon-fri"
    assert schedule.next_due_at == at("2026-11-30 06:30")
    assert not events("schedule.created")[:-1]  # the refused ones recorded nothing


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"grace_hours": 0}, "grace_hours", "1 to"),
        ({"day_of_month": 29, "frequency": "monthly"}, "day_of_month", "1 to 28"),
        ({"frequency": "hourly"}, "frequency", "Unknown frequency"),
        ({"weekday": 9}, "weekday", "day of the week"),
    ],
)
def test_settings_are_validated(make_schedule, change, field, message):
    with pytest.raises(ValidationError) as exc:
        make_schedule(**change)
    assert message in " ".join(exc.value.message_dict[field])
    assert not RunSchedule.objects.exists()
    assert not events("schedule.created")


def test_the_environment_must_belong_to_the_runbooks_project(make_schedule):
    other = EnvironmentFactory(name="elsewhere")
    with pytest.raises(ValidationError) as exc:
        make_schedule(environment=other)
    assert "belongs to shop.example" in exc.value.message_dict["environment"][0]


def test_the_owner_must_be_allowed_to_start_runs(make_schedule, user_factory, approver):
    viewer = user_factory("viewer", username="vera")
    with pytest.raises(ValidationError) as exc:
        make_schedule(actor=approver, owner=viewer)
    assert "vera may not start runbook runs" in exc.value.message_dict["owner"][0]


def test_only_an_approver_makes_someone_else_the_owner(make_schedule, user_factory, approver):
    otto = user_factory("operator", username="otto")
    with pytest.raises(PermissionDenied, match="make another person the owner"):
        make_schedule(owner=otto)  # olga, an operator
    schedule = make_schedule(actor=approver, owner=otto)
    assert schedule.owner == otto
    [event] = events("schedule.created")
    assert event.actor == approver and event.changes["owner"] == "otto"


def test_viewers_cannot_schedule(make_schedule, user_factory):
    with pytest.raises(PermissionDenied, match="schedule recurring runs"):
        make_schedule(actor=user_factory("viewer"))
    assert not events("schedule.created")


def test_update_records_what_changed(make_schedule, operator, monkeypatch):
    schedule = make_schedule()
    monkeypatch.setattr(services.timezone, "now", lambda: at("2026-12-02 12:00"))
    updated = services.schedule_update(
        actor=operator, schedule=schedule, frequency="daily", at_time=time(7, 30)
    )
    assert updated.expression() == "30 7 * * *"
    assert updated.next_due_at == at("2026-12-03 07:30")  # from now on
    [event] = events("schedule.updated")
    assert event.changes["expression"] == {"before": "0 9 * * 1", "after": "30 7 * * *"}
    assert event.changes["frequency"] == {"before": "weekly", "after": "daily"}
    with pytest.raises(ValidationError, match="Nothing to change"):
        services.schedule_update(actor=operator, schedule=updated, at_time=time(7, 30))
    assert len(events("schedule.updated")) == 1


def test_pause_resume_and_delete_are_audited(make_schedule, operator, user_factory, monkeypatch):
    schedule = make_schedule()
    with pytest.raises(PermissionDenied):
        services.schedule_pause(actor=user_factory("viewer"), schedule=schedule)
    paused = services.schedule_pause(actor=operator, schedule=schedule, reason="code freeze")
    assert not paused.active
    with pytest.raises(ValidationError, match="already paused"):
        services.schedule_pause(actor=operator, schedule=schedule)
    monkeypatch.setattr(services.timezone, "now", lambda: at("2026-12-22 10:00"))
    resumed = services.schedule_resume(actor=operator, schedule=schedule)
    # what passed while paused is not started late: the next Monday after now
    assert resumed.active and resumed.next_due_at == at("2026-12-28 09:00")
    with pytest.raises(ValidationError, match="reason"):
        services.schedule_delete(actor=operator, schedule=schedule, reason=" ")
    services.schedule_delete(actor=operator, schedule=schedule, reason="moved to the new runbook")
    assert not RunSchedule.objects.exists()
    assert [e.message for e in events("schedule.paused")] == ["code freeze"]
    assert events("schedule.resumed")[0].changes["next_due_at"].startswith("2026-12-28T09:00")
    [deleted] = events("schedule.deleted")
    assert deleted.message == "moved to the new runbook" and deleted.changes["periods"] == 0
