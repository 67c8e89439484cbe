"""DORA figures on a constructed history whose answers are worked out by hand."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse

from deployments import dora
from deployments.choices import DeploymentStatus
from environments.choices import Tier
from runbooks.choices import RunStatus
from runbooks.models import Run, Runbook, RunbookVersion
from tests.factories import EnvironmentFactory

from .factories import DeploymentFactory

S, F, RB, C = (
    DeploymentStatus.SUCCESS,
    DeploymentStatus.FAILURE,
    DeploymentStatus.ROLLED_BACK,
    DeploymentStatus.CANCELLED,
)
H = timedelta(hours=1)


def at(day, hour, minute=0):
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def deploy(env, finished, status, commit=None):
    return DeploymentFactory(
        environment=env, finished_at=finished, status=status, commit_time=commit
    )


def run(env, user, title, started, finished=None, metadata=None):
    runbook = Runbook.objects.create(title=title)
    version = RunbookVersion.objects.create(
        runbook=runbook, number=1, sha256="0" * 64, metadata=metadata or {}
    )
    return Run.objects.create(
        version=version,
        environment=env,
        status=RunStatus.COMPLETED if finished else RunStatus.IN_PROGRESS,
        planned_start=started,
        planned_end=started + H,
        started_by=user,
        started_at=started,
        finished_at=finished,
    )


@pytest.fixture
def history(prod, operator, settings):
    settings.TIME_ZONE = "UTC"
    other = EnvironmentFactory(project=prod.project, name="prod-eu", tier=Tier.PRODUCTION)
    deploy(prod, at(1, 10) - timedelta(days=1), S, at(1, 8) - timedelta(days=1))  # before
    deploy(prod, at(1, 10), S, at(1, 8))  # D1 lead 2 h
    deploy(prod, at(2, 10), F, at(2, 9))  # D2 failed, restored by D3: 3 h
    deploy(prod, at(2, 13), S, at(2, 12))  # D3 lead 1 h
    deploy(prod, at(4, 10), S, at(3, 10))  # D4 lead 24 h, then a rollback run
    run(prod, operator, "Rollback the checkout release", at(4, 11), at(4, 11, 30))
    deploy(prod, at(5, 9), S)  # D5 no commit time
    deploy(prod, at(6, 10), RB, at(6, 6))  # D6 rolled back, restored by D7: 6 h
    deploy(prod, at(6, 16), S, at(6, 15))  # D7 lead 1 h
    deploy(prod, at(7, 10), C)  # D8 cancelled: not counted
    # 25 h after D7: outside the 24 h window, and not a failure
    run(prod, operator, "Emergency rollback", at(7, 17))
    deploy(prod, at(8, 10), S, at(8, 9, 30))  # D9 lead 30 min
    run(prod, operator, "Weekly maintenance", at(8, 11), at(8, 12))  # not a rollback
    run(other, operator, "Rollback", at(8, 11))  # another environment
    deploy(prod, at(9, 10), F)  # D10 failed, restored after the period: 48 h
    run(prod, operator, "Plan", at(9, 12), metadata={"kind": "rollback"})  # after a failure
    deploy(prod, at(11, 10), S, at(11, 9))  # after the period
    return prod


def test_the_four_figures(history):
    period = dora.between(date(2026, 3, 1), date(2026, 3, 10))
    figures = dora.figures([history.pk], period, window=timedelta(hours=24))
    assert figures.deployments == 6
    assert figures.per_day == pytest.approx(0.6)
    assert figures.per_week == pytest.approx(4.2)
    assert figures.lead_count == 5  # 30 min, 1 h, 1 h, 2 h, 24 h
    assert figures.lead_time == H
    assert figures.ended == 9  # D1-D7, D9, D10: the cancelled D8 is left out
    assert figures.failed == 4  # D2, D4 (rollback run), D6, D10
    assert figures.flagged_by_runs == 1
    assert figures.failure_rate == pytest.approx(4 / 9)
    assert sorted(figures.restore_times) == [1.5 * H, 3 * H, 6 * H, 48 * H]
    assert figures.restore_time == 4.5 * H
    assert figures.unrestored == 0


def test_daily_buckets(history):
    period = dora.between(date(2026, 3, 1), date(2026, 3, 10))
    figures = dora.figures([history.pk], period, window=timedelta(hours=24))
    assert figures.bucket_name == "day" and len(figures.buckets) == 10
    by_day = {b.start.day: b for b in figures.buckets}
    assert [by_day[d].deployments for d in range(1, 11)] == [1, 1, 0, 1, 1, 1, 0, 1, 0, 0]
    assert by_day[2].failed == 1 and by_day[2].ended == 2 and by_day[2].failure_rate == 0.5
    assert by_day[4].failed == 1 and by_day[4].restore_time == 1.5 * H
    assert by_day[4].lead_time == 24 * H
    assert by_day[7].ended == 0 and by_day[7].failure_rate is None


def test_a_wider_window_flags_the_late_rollback_run(history):
    period = dora.between(date(2026, 3, 1), date(2026, 3, 10))
    figures = dora.figures([history.pk], period, window=timedelta(hours=26))
    assert figures.failed == 5 and figures.flagged_by_runs == 2
    # D7's rollback run never completed: D7 is restored by the next success (D9, 42 h later).
    assert 42 * H in figures.restore_times


def test_an_unrestored_failure(prod):
    deploy(prod, at(1, 10), S, at(1, 9))
    deploy(prod, at(2, 10), F)
    figures = dora.figures([prod.pk], dora.between(date(2026, 3, 1), date(2026, 3, 3)))
    assert figures.failed == 1 and figures.unrestored == 1 and figures.restore_time is None


def test_no_deployments():
    figures = dora.figures([], dora.last_days(30))
    assert figures.deployments == 0 and figures.per_day == 0
    assert figures.failure_rate is None and figures.lead_time is None


@pytest.mark.parametrize(
    ("title", "metadata", "expected"),
    [
        ("Rollback the release", {}, True),
        ("Roll back Convex", {}, True),
        ("roll-back plan", {}, True),
        ("Database migration", {"kind": "rollback"}, True),
        ("Database migration", {"type": "Rollback"}, True),
        ("Database migration", {"rollback": True}, True),
        ("Database migration", {"tags": ["db", "rollback"]}, True),
        ("Database migration", {"tags": "db, rollback"}, True),
        ("Database migration", {"tags": ["rollbacks-reviewed"]}, False),
        ("Weekly maintenance", None, False),
        ("Enrollback training", {}, False),
    ],
)
def test_what_counts_as_a_rollback_run(title, metadata, expected):
    assert dora.is_rollback_runbook(title, metadata) is expected


def test_period_buckets():
    assert dora.between(date(2026, 1, 1), date(2026, 1, 31)).length_days == 31
    week = dora.Figures(period=dora.between(date(2026, 1, 1), date(2026, 3, 31)))
    assert week.bucket_name == "week"
    assert dora.Figures(period=dora.last_days(365)).bucket_name == "month"
    assert len(dora._buckets(dora.between(date(2026, 1, 1), date(2026, 12, 31)))) == 12


def test_dora_page_and_csv(client_for, history, settings):
    client, _user = client_for("viewer")
    query = f"?environment={history.pk}&days=&start=2026-03-01&end=2026-03-10"
    response = client.get(reverse("deployments:dora") + query)
    assert response.status_code == 200
    body = response.content.decode()
    assert "0.60" in body and "per day" in body
    assert body.count("<svg") == 4 and "<script" not in body.split("<main")[1]
    response = client.get(reverse("deployments:dora_csv") + query)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    total = next(r for r in rows if r and r[0] == "total")
    assert total[1:6] == ["6", "1.00", "9", "4", "44.4"]
    assert total[6] == "4.50"


def test_dora_csv_escapes_formulas(client_for, project):
    client, _user = client_for("viewer")
    project.name = "=cmd|' /C calc'!A0"
    project.save()
    env = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    response = client.get(reverse("deployments:dora_csv") + f"?environment={env.pk}")
    first = next(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert first == ["environments", "'=cmd|' /C calc'!A0 / prod"]


def test_dora_page_needs_view_permission(client_for):
    client, _user = client_for(None)
    assert client.get(reverse("deployments:dora")).status_code == 403
