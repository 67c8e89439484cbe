import io

import pytest

from environments.choices import Tier
from opsportal.audit.models import AuditEvent
from runbooks import demo
from runbooks.choices import RunStatus, StepStatus
from runbooks.models import Run, Runbook, StepRun
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(user_factory):
    return {
        role: user_factory(role, username=role)
        for role in ("viewer", "operator", "approver", "admin")
    }


def test_demo_loads_plans_and_a_run_in_progress_idempotently(users):
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    prod = EnvironmentFactory(
        project=project,
        name="prod",
        tier=Tier.PRODUCTION,
        protected=True,
        url="https://makalah.example",
    )
    out = io.StringIO()
    demo.load(users=users, stdout=out)
    demo.load(users=users, stdout=out)
    assert Runbook.objects.count() == 4
    assert {v.source_name for r in Runbook.objects.all() for v in r.versions.all()} >= {
        "release-checklist.md",
        "database-upgrade.md",
        "convex-release-tasks.md",
        "migrasi-data-anggota.md",
    }
    run = Run.objects.get()
    assert run.environment == prod and run.status == RunStatus.IN_PROGRESS
    promote = StepRun.objects.get(run=run, step__title__startswith="Promote")
    assert promote.status == StepStatus.DONE
    assert (promote.signed_by, promote.second_signed_by) == (users["operator"], users["approver"])
    assert StepRun.objects.filter(run=run, status=StepStatus.DONE).count() == 4
    health = StepRun.objects.get(run=run, step__title__startswith="Health")
    assert health.step.check_config["url"] == "https://makalah.example"
    assert AuditEvent.objects.filter(action="runbook.run.started").count() == 1


def test_demo_without_the_prod_environment_skips_the_run(users):
    out = io.StringIO()
    demo.load(users=users, stdout=out)
    assert Runbook.objects.count() == 4
    assert not Run.objects.exists()
    assert "demo run skipped" in out.getvalue()
