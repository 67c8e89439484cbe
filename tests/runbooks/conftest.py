from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from environments.choices import Tier
from runbooks import services
from runbooks.models import StepRun
from tests.factories import EnvironmentFactory

DEMO = Path(__file__).resolve().parents[2] / "runbooks" / "demo_plans"

SMALL_PLAN = """# Small release

## Prepare

- [ ] Announce the window
- [ ] Back up the database
  ```bash
  pg_dump -Fc app > app.dump
  ```

## Ship

- [ ] Promote the build
- [ ] Smoke test

## Rollback

Promote the previous build.
"""


@pytest.fixture
def operator(user_factory):
    return user_factory("operator", username="olga")


@pytest.fixture
def approver(user_factory):
    return user_factory("approver", username="april")


@pytest.fixture
def version(operator):
    return services.runbook_import(actor=operator, text=SMALL_PLAN, source_name="small.md")


@pytest.fixture
def prod_env(db):
    return EnvironmentFactory(name="prod", tier=Tier.PRODUCTION, protected=True)


@pytest.fixture
def dev_env(db):
    return EnvironmentFactory(name="dev", tier=Tier.DEVELOPMENT, protected=False)


@pytest.fixture
def start_run(operator):
    def start(version, environment, *, actor=None, hours: float = 1):
        now = timezone.now()
        return services.run_start(
            actor=actor or operator,
            version=version,
            environment=environment,
            planned_start=now,
            planned_end=now + timedelta(hours=hours),
        )

    return start


def step_run(run, title: str) -> StepRun:
    return StepRun.objects.select_related("step__phase", "run").get(run=run, step__title=title)
