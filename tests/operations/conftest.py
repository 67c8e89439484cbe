from datetime import UTC, datetime, time

import pytest

from environments.choices import Tier
from operations import services
from runbooks import services as rb_services
from tests.factories import EnvironmentFactory, ProjectFactory

PLAN = """# Weekly backup export

## Export

- [ ] Export the production database
- [ ] Copy the dump off-site

## Check

- [ ] Restore the dump into a scratch database
"""


def at(text: str) -> datetime:
    """``at("2026-12-07 09:00")``: an aware UTC moment (the test settings' TIME_ZONE)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def _utc(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def operator(user_factory):
    return user_factory("operator", username="olga")


@pytest.fixture
def approver(user_factory):
    return user_factory("approver", username="april")


@pytest.fixture
def project(db):
    return ProjectFactory(name="shop.example", slug="shop-example")


@pytest.fixture
def prod(project):
    return EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)


@pytest.fixture
def staging(project):
    return EnvironmentFactory(project=project, name="staging", tier=Tier.STAGING)


@pytest.fixture
def runbook(operator, project):
    return rb_services.runbook_import(
        actor=operator, text=PLAN, source_name="backup.md", project=project
    ).runbook


@pytest.fixture
def make_schedule(operator, runbook, prod):
    def make(**kwargs):
        values = {
            "actor": operator,
            "runbook": runbook,
            "environment": prod,
            "frequency": "weekly",
            "at_time": time(9, 0),
            "weekday": 0,
            "grace_hours": 4,
            "starts_at": at("2026-11-30 00:00"),
        } | kwargs
        return services.schedule_create(**values)

    return make
