"""Five-field cron expressions: parsing and the fire times before or after a moment.

The syntax is Vixie cron's (``man 5 crontab``): ``minute hour day-of-month month day-of-week``,
each field ``*``, a number, a range ``a-b``, a step ``*/n`` / ``a-b/n`` / ``a/n``, or a comma
list of those; month and weekday names (``jan``, ``mon``) in any case; weekday 0 and 7 are
Sunday; the macros ``@yearly`` (``@annually``), ``@monthly``, ``@weekly``, ``@daily``
(``@midnight``) and ``@hourly``. As in cron, when both day fields are restricted (neither
starts with ``*``) a day matches if *either* does: ``0 9 1 * mon`` is the 1st and every Monday.

Times are wall-clock times in a time zone (the portal's ``TIME_ZONE`` by default). A time that
does not exist (the hour skipped when clocks go forward) fires at the same wall time after the
change (an hour later); a time that happens twice fires the first time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from django.conf import settings

MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# (name, lowest, highest, names for the lowest values on)
FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, MONTHS),
    ("day of week", 0, 7, WEEKDAYS),
)
# The longest a valid expression can go without firing is 8 years (29 February of a leap
# year that is not every fourth: 2096 → 2104); searching further means it never fires.
SEARCH_DAYS = 366 * 9
MAX_LENGTH = 100


class CronError(ValueError):
    """An expression that is not valid cron, with a message for the person who wrote it."""


def _number(text: str, name: str, low: int, high: int, names: tuple) -> int:
    word = text.lower()
    if names and word in names:
        return names.index(word) + low
    if not (text.isascii() and text.isdigit()):
        raise CronError(f"{name}: {text!r} is not a number" + (" or a name" if names else ""))
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{name}: {value} is outside {low}–{high}")
    return value


def _field(text: str, name: str, low: int, high: int, names: tuple) -> frozenset[int]:
    values: set[int] = set()
    if not text:
        raise CronError(f"{name}: empty")
    for part in text.split(","):
        if not part:
            raise CronError(f"{name}: an empty item in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) == 0:
                raise CronError(f"{name}: the step {step_text!r} must be a positive number")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _number(first, name, low, high, names)
            end = _number(last, name, low, high, names)
            if start > end:
                raise CronError(f"{name}: the range {base!r} runs backwards")
        else:
            start = _number(base, name, low, high, names)
            end = high if slash else start  # "5/15": from 5 to the end, every 15
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed expression: the allowed values of each field."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    any_day: bool  # the day-of-month field starts with "*"
    any_weekday: bool  # the day-of-week field starts with "*"

    @classmethod
    def parse(cls, expression: str) -> Cron:
        text = " ".join((expression or "").split())
        if not text:
            raise CronError("Give a cron expression such as 0 9 * * mon (09:00 every Monday).")
        if len(text) > MAX_LENGTH:
            raise CronError(f"A cron expression has at most {MAX_LENGTH} characters.")
        if text.startswith("@"):
            if text.lower() not in MACROS:
                raise CronError(f"Unknown macro {text!r}: use one of {', '.join(MACROS)}.")
            text = MACROS[text.lower()]
        parts = text.split(" ")
        if len(parts) != 5:
            raise CronError(
                f"A cron expression has 5 fields (minute hour day month weekday); "
                f"this one has {len(parts)}."
            )
        sets = [_field(p, *spec) for p, spec in zip(parts, FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in sets[4])
        cron = cls(
            expression=" ".join((expression or "").split()),
            minutes=sets[0],
            hours=sets[1],
            days=sets[2],
            months=sets[3],
            weekdays=weekdays,
            any_day=parts[2].startswith("*"),
            any_weekday=parts[4].startswith("*"),
        )
        if not any(cron._day_matches(d) for d in _days(date(2000, 1, 1), SEARCH_DAYS, 1)):
            raise CronError(f"{cron.expression!r} never fires (no such day in any year).")
        return cron

    # --- matching ---------------------------------------------------------------------------
    def _day_matches(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def matches(self, moment: datetime, tz: tzinfo | None = None) -> bool:
        local = _local(moment, tz)
        return (
            local.minute in self.minutes
            and local.hour in self.hours
            and self._day_matches(local.date())
        )

    # --- walking ----------------------------------------------------------------------------
    def next_after(self, moment: datetime, tz: tzinfo | None = None) -> datetime:
        """The first fire time strictly after ``moment`` (aware, in ``tz``)."""
        for fire in self.iter_after(moment, tz):
            return fire
        raise CronError(f"{self.expression!r} never fires")  # pragma: no cover (parse refuses)

    def previous(self, moment: datetime, tz: tzinfo | None = None) -> datetime:
        """The last fire time at or before ``moment`` (aware, in ``tz``)."""
        zone = _zone(tz)
        local = _local(moment, zone)
        minutes, hours = sorted(self.minutes, reverse=True), sorted(self.hours, reverse=True)
        for day in _days(local.date(), SEARCH_DAYS, -1):
            if not self._day_matches(day):
                continue
            for hour in hours:
                if day == local.date() and hour > local.hour:
                    continue
                for minute in minutes:
                    fire = _aware(day, hour, minute, zone)
                    if fire <= moment:
                        return fire
        raise CronError(f"{self.expression!r} never fires")  # pragma: no cover

    def iter_after(self, moment: datetime, tz: tzinfo | None = None) -> Iterator[datetime]:
        """Fire times strictly after ``moment``, in order (endless: stop it yourself)."""
        zone = _zone(tz)
        local = _local(moment, zone)
        minutes, hours = sorted(self.minutes), sorted(self.hours)
        last = moment
        for day in _days(local.date(), SEARCH_DAYS * 100, 1):
            if not self._day_matches(day):
                continue
            for hour in hours:
                if day == local.date() and hour < local.hour:
                    continue
                for minute in minutes:
                    fire = _aware(day, hour, minute, zone)
                    if fire > last:  # also skips a wall time repeated by a clock change
                        last = fire
                        yield fire

    def between(
        self, start: datetime, end: datetime, tz: tzinfo | None = None, *, limit: int = 500
    ) -> list[datetime]:
        """Fire times in ``[start, end)``, at most ``limit`` of them."""
        out: list[datetime] = []
        for fire in self.iter_after(start - timedelta(microseconds=1), tz):
            if fire >= end or len(out) >= limit:
                break
            out.append(fire)
        return out


def _zone(tz: tzinfo | None) -> tzinfo:
    return tz or ZoneInfo(settings.TIME_ZONE)


def _local(moment: datetime, tz: tzinfo | None) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("cron works on aware datetimes")
    return moment.astimezone(_zone(tz))


def _aware(day: date, hour: int, minute: int, zone: tzinfo) -> datetime:
    """The wall time in ``zone``, normalised through UTC (a skipped hour moves forward)."""
    wall = datetime.combine(day, time(hour, minute), tzinfo=zone)
    return wall.astimezone(ZoneInfo("UTC")).astimezone(zone)


def _days(start: date, count: int, step: int) -> Iterator[date]:
    day = start
    one = timedelta(days=step)
    for _ in range(count):
        yield day
        try:
            day += one
        except OverflowError:
            return


def preset(frequency: str, *, at: time, weekday: int = 0, day_of_month: int = 1) -> str:
    """The cron expression of a preset frequency (``choices.Frequency``) at a time of day.

    ``weekday`` counts from Monday = 0 (Python's); quarters start in January, April, July and
    October.
    """
    head = f"{at.minute} {at.hour}"
    if frequency == "daily":
        return f"{head} * * *"
    if frequency == "weekly":
        return f"{head} * * {(weekday + 1) % 7}"
    if frequency == "monthly":
        return f"{head} {day_of_month} * *"
    if frequency == "quarterly":
        return f"{head} {day_of_month} 1,4,7,10 *"
    raise ValueError(f"no preset for {frequency!r}")
