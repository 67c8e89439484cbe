"""The five-field cron parser: syntax, Vixie's day rule, walking both ways, time zones."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from operations.cron import Cron, CronError, preset

from .conftest import at


def fires(expression, start, count=5, tz=UTC):
    cron = Cron.parse(expression)
    out, moment = [], start
    for _ in range(count):
        moment = cron.next_after(moment, tz)
        out.append(moment.astimezone(tz).strftime("%a %Y-%m-%d %H:%M"))
    return out


@pytest.mark.parametrize(
    ("expression", "minutes", "hours", "days", "months", "weekdays"),
    [
        ("0 9 * * *", {0}, {9}, set(range(1, 32)), set(range(1, 13)), set(range(7))),
        ("*/15 8-17/3 1,15 jan-MAR mon-fri", {0, 15, 30, 45}, {8, 11, 14, 17}, {1, 15},
         {1, 2, 3}, {1, 2, 3, 4, 5}),
        ("5/20 0 * * 7", {5, 25, 45}, {0}, set(range(1, 32)), set(range(1, 13)), {0}),
        ("@weekly", {0}, {0}, set(range(1, 32)), set(range(1, 13)), {0}),
        ("  30   6 * *   SUN,sat ", {30}, {6}, set(range(1, 32)), set(range(1, 13)), {0, 6}),
    ],
)  # fmt: skip
def test_fields_parse_to_their_values(expression, minutes, hours, days, months, weekdays):
    cron = Cron.parse(expression)
    assert (cron.minutes, cron.hours, cron.days, cron.months, cron.weekdays) == (
        minutes, hours, days, months, weekdays,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "Give a cron expression"),
        ("0 9 * *", "has 5 fields"),
        ("0 9 * * * *", "has 5 fields"),
        ("60 9 * * *", "minute: 60 is outside 0–59"),
        ("0 24 * * *", "hour: 24 is outside 0–23"),
        ("0 9 0 * *", "day of month: 0 is outside 1–31"),
        ("0 9 * 13 *", "month: 13 is outside 1–12"),
        ("0 9 * * 8", "day of week: 8 is outside 0–7"),
        ("0 9 * * funday", "'funday' is not a number or a name"),
        ("0 9 5-1 * *", "runs backwards"),
        ("*/0 9 * * *", "must be a positive number"),
        ("0 9 1,,2 * *", "an empty item"),
        ("0 9 ² * *", "is not a number"),
        ("@reboot", "Unknown macro"),
        ("0 9 31 4 *", "never fires"),
        ("0 9 30 feb *", "never fires"),
    ],
)
def test_invalid_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(CronError, match=message):
        Cron.parse(expression)


def test_next_fire_times():
    assert fires("0 9 * * mon", at("2026-12-02 10:00"), 3) == [
        "Mon 2026-12-07 09:00", "Mon 2026-12-14 09:00", "Mon 2026-12-21 09:00",
    ]  # fmt: skip
    # strictly after: a moment that is a fire time is not returned again
    assert fires("0 9 * * *", at("2026-12-02 09:00"), 1) == ["Thu 2026-12-03 09:00"]
    # quarterly on the 1st: January, April, July, October
    assert fires(preset("quarterly", at=at("2000-01-01 06:30").time(), day_of_month=1),
                 at("2026-12-02 00:00"), 3) == [
        "Fri 2027-01-01 06:30", "Thu 2027-04-01 06:30", "Thu 2027-07-01 06:30",
    ]  # fmt: skip


def test_both_day_fields_restricted_means_either_as_in_vixie_cron():
    # the 1st of the month OR any Monday
    assert fires("0 9 1 * mon", at("2026-11-29 00:00"), 3) == [
        "Mon 2026-11-30 09:00", "Tue 2026-12-01 09:00", "Mon 2026-12-07 09:00",
    ]  # fmt: skip
    # a starred field leaves the other deciding: every Monday in December only
    assert fires("0 9 * 12 mon", at("2026-11-29 00:00"), 2) == [
        "Mon 2026-12-07 09:00", "Mon 2026-12-14 09:00",
    ]  # fmt: skip


def test_leap_day_and_month_ends():
    assert fires("0 0 29 2 *", at("2026-01-01 00:00"), 2) == [
        "Tue 2028-02-29 00:00", "Sun 2032-02-29 00:00",
    ]  # fmt: skip
    assert fires("0 0 31 * *", at("2026-01-31 12:00"), 2) == [
        "Tue 2026-03-31 00:00", "Sun 2026-05-31 00:00",
    ]  # fmt: skip


def test_previous_is_at_or_before():
    cron = Cron.parse("0 9 * * mon")
    assert cron.previous(at("2026-12-07 09:00"), UTC) == at("2026-12-07 09:00")
    assert cron.previous(at("2026-12-07 08:59"), UTC) == at("2026-11-30 09:00")
    assert Cron.parse("0 0 29 2 *").previous(at("2026-12-01 00:00"), UTC) == at("2024-02-29 00:00")


def test_between_is_half_open_and_bounded():
    cron = Cron.parse("0 * * * *")
    found = cron.between(at("2026-12-01 00:00"), at("2026-12-01 03:00"), UTC)
    assert found == [at("2026-12-01 00:00"), at("2026-12-01 01:00"), at("2026-12-01 02:00")]
    assert len(cron.between(at("2026-12-01 00:00"), at("2027-12-01 00:00"), UTC, limit=7)) == 7


def test_wall_clock_times_across_daylight_saving_changes():
    berlin = ZoneInfo("Europe/Berlin")
    cron = Cron.parse("30 2 * * *")
    # 29 March 2026: 02:00 → 03:00, so 02:30 does not exist: it fires at 03:30 that day
    spring = cron.next_after(datetime(2026, 3, 28, 12, 0, tzinfo=berlin), berlin)
    assert spring == datetime(2026, 3, 29, 3, 30, tzinfo=berlin)
    assert spring.astimezone(UTC) == at("2026-03-29 01:30")
    after = cron.next_after(spring, berlin)
    assert after == datetime(2026, 3, 30, 2, 30, tzinfo=berlin)
    # 25 October 2026: 02:30 happens twice: it fires once, the first time
    autumn = cron.between(
        datetime(2026, 10, 25, 0, 0, tzinfo=berlin), datetime(2026, 10, 26, 0, 0, tzinfo=berlin),
        berlin,
    )  # fmt: skip
    assert [f.astimezone(UTC) for f in autumn] == [at("2026-10-25 00:30")]
    # the daily 09:00 stays 09:00 local on both sides of the change
    nine = Cron.parse("0 9 * * *")
    assert [f.astimezone(UTC).hour for f in nine.between(
        datetime(2026, 10, 24, 0, 0, tzinfo=berlin), datetime(2026, 10, 27, 0, 0, tzinfo=berlin),
        berlin,
    )] == [7, 8, 8]  # fmt: skip


def test_presets():
    nine = at("2000-01-01 09:05").time()
    assert preset("daily", at=nine) == "5 9 * * *"
    assert preset("weekly", at=nine, weekday=0) == "5 9 * * 1"  # Monday
    assert preset("weekly", at=nine, weekday=6) == "5 9 * * 0"  # Sunday
    assert preset("monthly", at=nine, day_of_month=15) == "5 9 15 * *"
    assert preset("quarterly", at=nine, day_of_month=2) == "5 9 2 1,4,7,10 *"
    with pytest.raises(ValueError, match="no preset"):
        preset("cron", at=nine)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="aware"):
        Cron.parse("0 9 * * *").next_after(datetime(2026, 1, 1), UTC)
