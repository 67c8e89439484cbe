"""The four DORA figures of a set of environments over a period (docs/deployments.md).

- **Deployment frequency**: successful deployments that finished in the period, per day.
- **Lead time for changes**: commit time → end of the successful deployment, median over the
  successful deployments that carry a commit time.
- **Change failure rate**: failed changes / deployments that ended (succeeded, failed or were
  rolled back; cancelled ones are left out). A failed change is a deployment that failed, one
  marked rolled back, or a success after which a *rollback run* started on the same
  environment within ``DORA_ROLLBACK_WINDOW_HOURS`` (and before the next deployment ended).
  A rollback run is a run of a runbook whose title says rollback (``rollback``, ``roll back``,
  ``roll-back``) or whose version's front matter marks it (``kind``/``type``/``category:
  rollback``, ``rollback: true`` or ``rollback`` among its ``tags``).
- **Time to restore**: from the end of a failed change to the first of: the next successful
  deployment of that environment, or the end of the completed rollback run that flagged it.
  Median over the failed changes restored; those not (yet) restored are counted apart.

Every deployment is counted in the bucket (day, week or month) its ``finished_at`` falls in.
"""

import re
import statistics
from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from runbooks.choices import RunStatus
from runbooks.models import Run

from .choices import DeploymentStatus
from .models import Deployment

SUCCESS, FAILURE, ROLLED_BACK = (
    DeploymentStatus.SUCCESS,
    DeploymentStatus.FAILURE,
    DeploymentStatus.ROLLED_BACK,
)
COUNTED = (SUCCESS, FAILURE, ROLLED_BACK)
ROLLBACK_TITLE = re.compile(r"\broll[\s_-]?back", re.IGNORECASE)
PERIOD_CHOICES = (7, 30, 90, 180, 365)
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366


# --- periods --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime  # exclusive
    days: int | None = None  # a preset (last N days), or None for chosen dates

    @property
    def length_days(self) -> float:
        return max((self.end - self.start).total_seconds() / 86400, 1 / 24)

    @property
    def first_day(self) -> date:
        return timezone.localtime(self.start).date()

    @property
    def last_day(self) -> date:
        return timezone.localtime(self.end - timedelta(microseconds=1)).date()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def last_days(days: int, *, now: datetime | None = None) -> Period:
    """The last ``days`` whole days up to and including today."""
    today = timezone.localdate(now or timezone.now())
    start = _day_start(today - timedelta(days=days - 1))
    return Period(start, _day_start(today + timedelta(days=1)), days)


def between(first: date, last: date) -> Period:
    """From the start of ``first`` to the end of ``last`` (whole days, portal time zone)."""
    if last < first:
        first, last = last, first
    last = min(last, first + timedelta(days=MAX_DAYS - 1))
    return Period(_day_start(first), _day_start(last + timedelta(days=1)))


# --- rollback runs --------------------------------------------------------------------------------
def is_rollback_runbook(title: str, metadata) -> bool:
    if ROLLBACK_TITLE.search(title or ""):
        return True
    if not isinstance(metadata, dict):
        return False
    for key in ("kind", "type", "category"):
        if str(metadata.get(key, "")).strip().lower().replace(" ", "") in ("rollback", "roll-back"):
            return True
    if metadata.get("rollback") is True:
        return True
    tags = metadata.get("tags")
    if isinstance(tags, str):
        tags = [t.strip() for t in tags.split(",")]
    return isinstance(tags, list) and any(str(t).strip().lower() == "rollback" for t in tags)


@dataclass(frozen=True)
class RollbackRun:
    environment_id: int
    started_at: datetime
    finished_at: datetime | None  # set when the run completed
    run_id: int


def rollback_runs(environment_ids, start: datetime, end: datetime) -> list[RollbackRun]:
    rows = (
        Run.objects.filter(
            environment_id__in=environment_ids, started_at__gte=start, started_at__lt=end
        )
        .order_by("started_at")
        .values_list(
            "pk",
            "environment_id",
            "started_at",
            "finished_at",
            "status",
            "version__runbook__title",
            "version__metadata",
        )
    )
    return [
        RollbackRun(env, started, finished if status == RunStatus.COMPLETED else None, pk)
        for pk, env, started, finished, status, title, metadata in rows
        if is_rollback_runbook(title, metadata)
    ]


# --- figures --------------------------------------------------------------------------------------
@dataclass
class Bucket:
    start: datetime
    end: datetime
    label: str
    deployments: int = 0
    ended: int = 0
    failed: int = 0
    lead_times: list = field(default_factory=list)
    restore_times: list = field(default_factory=list)

    @property
    def lead_time(self) -> timedelta | None:
        return _median(self.lead_times)

    @property
    def restore_time(self) -> timedelta | None:
        return _median(self.restore_times)

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.ended if self.ended else None


@dataclass
class Figures:
    period: Period
    deployments: int = 0  # successful
    ended: int = 0  # succeeded, failed or rolled back
    failed: int = 0  # failed changes
    lead_times: list = field(default_factory=list)
    restore_times: list = field(default_factory=list)
    unrestored: int = 0
    flagged_by_runs: int = 0  # successes counted as failed because of a rollback run
    buckets: list[Bucket] = field(default_factory=list)
    rollback_window: timedelta = timedelta(hours=24)

    @property
    def per_day(self) -> float:
        return self.deployments / self.period.length_days

    @property
    def per_week(self) -> float:
        return self.per_day * 7

    @property
    def lead_time(self) -> timedelta | None:
        return _median(self.lead_times)

    @property
    def restore_time(self) -> timedelta | None:
        return _median(self.restore_times)

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.ended if self.ended else None

    @property
    def bucket_name(self) -> str:
        return _bucket_name(self.period)


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def _bucket_name(period: Period) -> str:
    days = period.length_days
    return "day" if days <= 31 else "week" if days <= 190 else "month"


def _buckets(period: Period) -> list[Bucket]:
    name = _bucket_name(period)
    buckets, day = [], period.first_day
    while True:
        start = max(_day_start(day), period.start)
        if start >= period.end:
            break
        if name == "day":
            nxt = day + timedelta(days=1)
            label = day.strftime("%d %b")
        elif name == "week":
            nxt = day + timedelta(days=7)
            label = day.strftime("%d %b")
        else:
            nxt = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
            label = day.strftime("%b %Y")
        buckets.append(Bucket(start, min(_day_start(nxt), period.end), label))
        day = nxt
    return buckets


def rollback_window() -> timedelta:
    return timedelta(hours=float(getattr(settings, "DORA_ROLLBACK_WINDOW_HOURS", 24)))


def figures(environment_ids, period: Period, *, window: timedelta | None = None) -> Figures:
    """The DORA figures of ``environment_ids`` over ``period`` (see the module docstring)."""
    window = rollback_window() if window is None else window
    environment_ids = list(environment_ids)
    result = Figures(period=period, buckets=_buckets(period), rollback_window=window)
    if not environment_ids:
        return result
    rows = list(
        Deployment.objects.filter(
            environment_id__in=environment_ids,
            finished_at__gte=period.start,
            finished_at__lt=period.end,
            status__in=COUNTED,
        )
        .order_by("environment_id", "finished_at", "pk")
        .values_list("environment_id", "status", "finished_at", "commit_time")
    )
    by_env: dict[int, list[tuple]] = defaultdict(list)
    for row in rows:
        by_env[row[0]].append(row)
    runs_by_env: dict[int, list[RollbackRun]] = defaultdict(list)
    for run in rollback_runs(list(by_env), period.start, period.end + window):
        runs_by_env[run.environment_id].append(run)
    starts = [b.start for b in result.buckets]

    def bucket_of(moment: datetime) -> Bucket:
        return result.buckets[max(bisect_right(starts, moment) - 1, 0)]

    for env_id, env_rows in by_env.items():
        finished = [r[2] for r in env_rows]
        success_times = [r[2] for r in env_rows if r[1] == SUCCESS]
        later_success = None  # looked up once per environment, only when needed
        flagging = _flagging_runs(env_rows, runs_by_env.get(env_id, []), window)
        for i, (_env, status, finished_at, commit_time) in enumerate(env_rows):
            bucket = bucket_of(finished_at)
            bucket.ended += 1
            if status == SUCCESS:
                bucket.deployments += 1
                if commit_time is not None and commit_time <= finished_at:
                    bucket.lead_times.append(finished_at - commit_time)
            run = flagging.get(i)
            if status == SUCCESS and run is None:
                continue
            bucket.failed += 1
            if run is not None:
                result.flagged_by_runs += 1
            # Restored by the next successful deployment, or by the completed rollback run.
            j = bisect_right(success_times, finished_at)
            restored = success_times[j] if j < len(success_times) else None
            if restored is None:
                if later_success is None:
                    later_success = _next_success_after(env_id, finished[-1]) or False
                restored = later_success or None
            if run is not None and run.finished_at is not None:
                restored = min(restored, run.finished_at) if restored else run.finished_at
            if restored is not None and restored > finished_at:
                bucket.restore_times.append(restored - finished_at)
            else:
                result.unrestored += 1
    for bucket in result.buckets:
        result.deployments += bucket.deployments
        result.ended += bucket.ended
        result.failed += bucket.failed
        result.lead_times += bucket.lead_times
        result.restore_times += bucket.restore_times
    return result


def _flagging_runs(env_rows, runs: list[RollbackRun], window: timedelta) -> dict[int, RollbackRun]:
    """Index of a successful deployment → the rollback run that marks it a failed change.

    A rollback run points at the latest deployment that ended before it started, if that one
    succeeded and ended at most ``window`` earlier.
    """
    flagged: dict[int, RollbackRun] = {}
    ends = [r[2] for r in env_rows]
    for run in runs:
        i = bisect_left(ends, run.started_at) - 1
        if i < 0:
            continue
        _env, status, finished_at, _commit = env_rows[i]
        if status == SUCCESS and run.started_at - finished_at <= window and i not in flagged:
            flagged[i] = run
    return flagged


def _next_success_after(environment_id: int, moment: datetime) -> datetime | None:
    return (
        Deployment.objects.filter(
            environment_id=environment_id, status=SUCCESS, finished_at__gt=moment
        )
        .order_by("finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
