import io

import pytest

from environments.choices import Tier
from operations import demo
from operations.models import RunSchedule, ScheduledRun
from opsportal.audit.models import AuditEvent
from runbooks.models import Runbook
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(user_factory):
    return {r: user_factory(r, username=r) for r in ("viewer", "operator", "approver", "admin")}


def test_demo_schedules_the_maintenance_plan_once(users):
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    out = io.StringIO()
    demo.load(users=users, stdout=out)
    demo.load(users=users, stdout=out)
    assert Runbook.objects.count() == 5
    schedules = RunSchedule.objects.with_related().order_by("pk")
    assert [s.frequency for s in schedules] == ["daily", "weekly", "monthly", "cron", "quarterly"]
    assert {s.owner.username for s in schedules} == {"operator"}
    assert {s.environment.name for s in schedules} == {"prod", "staging"}
    staging = project.environments.get(name="staging")
    assert staging.tier == Tier.STAGING
    assert AuditEvent.objects.filter(action="environment.created").exists()
    assert AuditEvent.objects.filter(action="schedule.created").count() == 5
    # the daily and the weekly check (the schedules started 8 days ago) are due now
    due = ScheduledRun.objects.with_related()
    assert {p.schedule.frequency for p in due} >= {"daily", "weekly"}
    assert all(p.run_id for p in due)
    assert AuditEvent.objects.filter(action="schedule.run.created").count() == due.count()
