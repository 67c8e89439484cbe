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
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Count,
    DateField,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    Subquery,
)
from django.db.models.functions import Trunc
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
class Median(Aggregate):
    """PostgreSQL's ``percentile_cont(0.5)``: the median without fetching the values."""

    function = "PERCENTILE_CONT"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


LEAD = ExpressionWrapper(F("finished_at") - F("commit_time"), output_field=DurationField())


@dataclass
class Bucket:
    start: datetime
    end: datetime
    label: str
    key: date
    deployments: int = 0
    ended: int = 0
    failed: int = 0
    lead_time: timedelta | None = None
    restore_seconds: list = field(default_factory=list)

    @property
    def restore_time(self) -> timedelta | None:
        return _median(self.restore_seconds)

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.ended if self.ended else None


@dataclass
class Figures:
    period: Period
    deployments: int = 0  # successful
    ended: int = 0  # succeeded, failed or rolled back
    failed: int = 0  # failed changes
    lead_time: timedelta | None = None
    lead_count: int = 0  # successful deployments with a commit time
    restore_seconds: list = field(default_factory=list)
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
    def restore_time(self) -> timedelta | None:
        return _median(self.restore_seconds)

    @property
    def restore_times(self) -> list[timedelta]:
        return [timedelta(seconds=s) for s in self.restore_seconds]

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.ended if self.ended else None

    @property
    def bucket_name(self) -> str:
        return _bucket_name(self.period)


def _median(values: list) -> timedelta | None:
    """The median of durations given as timedeltas or as seconds."""
    if not values:
        return None
    if isinstance(values[0], timedelta):
        values = [v.total_seconds() for v in values]
    return timedelta(seconds=statistics.median(values))


def _seconds(expression):
    """A duration as seconds (a float), computed by the database where it can."""
    if connection.vendor == "postgresql":
        return Func(
            expression, template="EXTRACT(EPOCH FROM %(expressions)s)", output_field=FloatField()
        )
    return ExpressionWrapper(expression, output_field=DurationField())


def _as_seconds(value) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


def _bucket_name(period: Period) -> str:
    days = period.length_days
    return "day" if days <= 31 else "week" if days <= 190 else "month"


def _bucket_key(day: date, name: str) -> date:
    """The first day of the day / week (Monday) / month ``day`` falls in, as SQL's Trunc."""
    if name == "week":
        return day - timedelta(days=day.weekday())
    if name == "month":
        return day.replace(day=1)
    return day


def _buckets(period: Period) -> list[Bucket]:
    name = _bucket_name(period)
    buckets, key = [], _bucket_key(period.first_day, name)
    while True:
        start = max(_day_start(key), period.start)
        if start >= period.end:
            break
        if name == "day":
            nxt, label = key + timedelta(days=1), key.strftime("%d %b")
        elif name == "week":
            nxt, label = key + timedelta(days=7), key.strftime("%d %b")
        else:
            nxt, label = (key + timedelta(days=32)).replace(day=1), key.strftime("%b %Y")
        buckets.append(Bucket(start, min(_day_start(nxt), period.end), label, key))
        key = nxt
    return buckets


def rollback_window() -> timedelta:
    return timedelta(hours=float(getattr(settings, "DORA_ROLLBACK_WINDOW_HOURS", 24)))


def figures(environment_ids, period: Period, *, window: timedelta | None = None) -> Figures:
    """The DORA figures of ``environment_ids`` over ``period`` (see the module docstring).

    A constant number of queries whatever the history: counts and (on PostgreSQL) lead-time
    medians are aggregated by the database per bucket; only failed changes, rollback runs and
    the deployments those runs point at are read row by row.
    """
    window = rollback_window() if window is None else window
    environment_ids = list(environment_ids)
    result = Figures(period=period, buckets=_buckets(period), rollback_window=window)
    if not environment_ids or not result.buckets:
        return result
    name = result.bucket_name
    by_key = {b.key: b for b in result.buckets}
    trunc = Trunc(
        "finished_at", name, output_field=DateField(), tzinfo=timezone.get_current_timezone()
    )
    ended = Deployment.objects.filter(
        environment_id__in=environment_ids,
        finished_at__gte=period.start,
        finished_at__lt=period.end,
        status__in=COUNTED,
    )
    for key, status, n in (
        ended.annotate(bucket=trunc).values("bucket", "status").annotate(n=Count("*"))
        .values_list("bucket", "status", "n")
    ):  # fmt: skip
        bucket = by_key[key]
        bucket.ended += n
        if status == SUCCESS:
            bucket.deployments += n
        else:
            bucket.failed += n
    _lead_times(result, ended, trunc, by_key)
    # Failed deployments and the next success of their environment (restored then).
    next_success = (
        Deployment.objects.filter(
            environment_id=OuterRef("environment_id"),
            status=SUCCESS,
            finished_at__gt=OuterRef("finished_at"),
        )
        .order_by("finished_at")
        .values("finished_at")[:1]
    )
    # Each failure's bucket and time to restore come computed (a date and a float per row: cheap
    # to read, where two timestamps per row were most of the page's time at 100,000 rows).
    for key, seconds in (
        ended.exclude(status=SUCCESS)
        .annotate(
            bucket=trunc,
            restore=_seconds(Subquery(next_success) - F("finished_at")),
        )
        .values_list("bucket", "restore")
    ):
        _add_restore(result, by_key[key], _as_seconds(seconds))
    _flag_by_rollback_runs(result, environment_ids, period, window, next_success, by_key)
    for bucket in result.buckets:
        result.deployments += bucket.deployments
        result.ended += bucket.ended
        result.failed += bucket.failed
        result.restore_seconds += bucket.restore_seconds
    return result


def _bucket_for(by_key: dict, moment: datetime, name: str) -> Bucket:
    return by_key[_bucket_key(timezone.localtime(moment).date(), name)]


def _lead_times(result: Figures, ended, trunc, by_key: dict) -> None:
    with_commit = ended.filter(
        status=SUCCESS, commit_time__isnull=False, commit_time__lte=F("finished_at")
    )
    if connection.vendor == "postgresql":
        for key, median in (
            with_commit.annotate(bucket=trunc).values("bucket").annotate(m=Median(LEAD))
            .values_list("bucket", "m")
        ):  # fmt: skip
            by_key[key].lead_time = median
        overall = with_commit.aggregate(m=Median(LEAD), n=Count("*"))
        result.lead_time, result.lead_count = overall["m"], overall["n"]
        return
    per_bucket: dict[date, list] = defaultdict(list)
    for key, lead in with_commit.annotate(bucket=trunc, lead=LEAD).values_list("bucket", "lead"):
        per_bucket[key].append(lead)
    for key, leads in per_bucket.items():
        by_key[key].lead_time = _median(leads)
    everything = [lead for leads in per_bucket.values() for lead in leads]
    result.lead_time, result.lead_count = _median(everything), len(everything)


def _flag_by_rollback_runs(result, environment_ids, period, window, next_success, by_key) -> None:
    """A rollback run marks the latest deployment that ended before it started, if that one
    succeeded, ended in the period and at most ``window`` earlier, as a failed change."""
    runs = rollback_runs(environment_ids, period.start, period.end + window)
    if not runs:
        return
    near = Q()
    for run in runs:
        near |= Q(
            environment_id=run.environment_id,
            finished_at__gte=run.started_at - window,
            finished_at__lt=run.started_at,
        )
    candidates: dict[int, list] = defaultdict(list)
    for row in (
        Deployment.objects.filter(near, status__in=COUNTED)
        .annotate(restored=Subquery(next_success))
        .order_by("finished_at")
        .values_list("pk", "environment_id", "status", "finished_at", "restored")
    ):
        candidates[row[1]].append(row)
    flagged: dict[int, tuple] = {}
    for run in runs:
        before = [r for r in candidates.get(run.environment_id, []) if r[3] < run.started_at]
        if not before:
            continue
        pk, _env, status, finished_at, restored = before[-1]
        if (
            status == SUCCESS
            and period.start <= finished_at < period.end
            and run.started_at - finished_at <= window
            and pk not in flagged
        ):
            flagged[pk] = (finished_at, restored, run)
    name = result.bucket_name
    for finished_at, restored, run in flagged.values():
        bucket = _bucket_for(by_key, finished_at, name)
        bucket.failed += 1
        result.flagged_by_runs += 1
        _restore(result, bucket, finished_at, restored, run)


def _restore(result: Figures, bucket: Bucket, failed_at, next_success, run) -> None:
    """Restored by the next successful deployment, or by the completed rollback run."""
    restored = next_success
    if run is not None and run.finished_at is not None:
        restored = min(restored, run.finished_at) if restored else run.finished_at
    seconds = (restored - failed_at).total_seconds() if restored is not None else None
    _add_restore(result, bucket, seconds)


def _add_restore(result: Figures, bucket: Bucket, seconds: float | None) -> None:
    if seconds is not None and seconds > 0:
        bucket.restore_seconds.append(seconds)
    else:
        result.unrestored += 1
