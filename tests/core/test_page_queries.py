"""Every page people live in stays within the query budget, and its query count does not grow
with the data: the same pages are measured on a small database and again after more history,
members and runs were seeded (`seed_scale`, the tool that fills the benchmark database)."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from imports.models import Commission, ImportJob, Member
from opsportal.audit.chain import verify_chain
from opsportal.audit.models import AuditEvent
from opsportal.hotpages import QUERY_BUDGET, hot_pages
from runbooks.models import Run
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory, ProviderDeploymentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def seed(*, audit: int, members: int, runs: int) -> None:
    call_command(
        "seed_scale",
        f"--audit-events={audit}",
        f"--members={members}",
        f"--runs={runs}",
        "--operators=4",
        stdout=StringIO(),
        stderr=StringIO(),
    )


def measure(client: Client, pages: list[tuple[str, str]]) -> dict[str, int]:
    # The session's once-per-session and once-a-minute work (the user's time zone, the idle
    # refresh) lands on this warm-up, not on whichever page comes first.
    client.get(pages[0][1])
    counts = {}
    for label, url in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (label, url, response.status_code)
        counts[label] = len(queries)
    return counts


@pytest.fixture
def admin_client(roles):
    call_command("load_demo", stdout=StringIO())
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    return client


def test_hot_pages_stay_within_budget_as_the_data_grows(admin_client):
    # past the 1,000-row count cap from the start, so the audit pages page the same way in both
    seed(audit=1200, members=100, runs=4)
    pages = hot_pages()
    labels = {label for label, _ in pages}
    # every page of the benchmark has something to show here
    assert {
        "dashboard", "audit deep page", "audit date range", "audit by target",
        "audit operator in prod", "environment matrix", "runbook run", "import job",
        "member search", "change request",
        "audit event of a change", "variable page", "variable history", "runbook history",
        "member history", "runbook version",
    } <= labels  # fmt: skip
    small = measure(admin_client, pages)

    seed(audit=2400, members=300, runs=12)
    for _ in range(4):  # more projects, each with environments, deployments and variables
        project = ProjectFactory()
        for tier in ("development", "production"):
            env = EnvironmentFactory(project=project, tier=tier)
            ProviderDeploymentFactory(environment=env)
            ConfigVarFactory.create_batch(5, environment=env)
    grown = measure(admin_client, hot_pages())

    over = {label: n for label, n in grown.items() if n > QUERY_BUDGET}
    assert not over, f"pages over the {QUERY_BUDGET}-query budget: {over}"
    growing = {
        label: (small[label], grown[label]) for label in small if grown[label] > small[label]
    }
    assert not growing, f"query count grows with the data (a query per row?): {growing}"


def test_seed_scale_fills_every_area_through_the_job_services(admin_client):
    before = AuditEvent.objects.count()
    seed(audit=500, members=200, runs=5)

    # members arrive as real import jobs: the shop's product settings, then users, orders and
    # subscriptions, with rejected rows; every commission has its amount
    jobs = ImportJob.objects.filter(original_name__startswith="scale-")
    assert sorted(jobs.values_list("kind", flat=True)) == [
        "orders", "products", "subscriptions", "users",
    ]  # fmt: skip
    assert not Commission.objects.filter(amount__isnull=True).exists()
    users_job = jobs.get(kind="users")
    assert users_job.status == "completed"
    assert users_job.created_count + users_job.rejected_count == 200
    assert users_job.rejected_count >= 1
    assert Member.objects.filter(job=users_job).count() == users_job.created_count
    assert AuditEvent.objects.filter(action="import.job.completed", job_id=users_job.pk).exists()

    runs = Run.objects.filter(started_by__username__startswith="scale-op-")
    assert runs.count() == 5
    assert runs.filter(status="completed").exists()
    assert AuditEvent.objects.filter(action="runbook.run.started").count() >= 5
    assert AuditEvent.objects.filter(action="runbook.runs.seeded").count() == 1

    assert AuditEvent.objects.count() >= before + 500
    result = verify_chain()
    assert result.ok, result


def test_seed_scale_again_adds_a_new_cohort(admin_client):
    seed(audit=0, members=50, runs=0)
    first = Member.objects.count()
    seed(audit=0, members=50, runs=0)
    second = ImportJob.objects.filter(original_name__startswith="scale-", kind="users").latest("pk")
    assert second.created_count + second.rejected_count == 50
    assert second.updated_count == 0  # new user ids and emails, nothing overwritten
    assert Member.objects.count() - first == second.created_count
