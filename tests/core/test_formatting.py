"""One format for times, money and counts (opsportal/templatetags/portal_format.py)."""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.template import Context, Template
from django.utils import timezone

from opsportal.templatetags.portal_format import ago, grouped, rupiah, stamp

AT = datetime(2026, 12, 1, 9, 19, 5, tzinfo=UTC)


def render(source: str, **context) -> str:
    return Template("{% load portal_format %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("zone", "shown"),
    [("UTC", "2026-12-01 09:19"), ("Asia/Jakarta", "2026-12-01 16:19"),
     ("America/New_York", "2026-12-01 04:19")],
)  # fmt: skip
def test_stamp_is_iso_like_in_the_current_time_zone(settings, zone, shown):
    settings.TIME_ZONE = zone
    assert stamp(AT) == shown


def test_a_user_time_zone_activated_for_the_request_wins_over_the_setting(settings):
    settings.TIME_ZONE = "UTC"
    with timezone.override("Asia/Makassar"):  # WITA, UTC+8
        assert stamp(AT) == "2026-12-01 17:19"
        assert stamp(AT, "seconds") == "2026-12-01 17:19:05"


def test_stamp_of_dates_and_nothing():
    assert stamp(date(2026, 3, 9)) == "2026-03-09"
    assert stamp(AT, "date") == "2026-12-01"
    assert stamp(None) == ""
    assert stamp("") == ""


def test_when_tag_renders_time_element_with_full_value_and_relative(settings):
    settings.TIME_ZONE = "Asia/Jakarta"
    html = render("{% when at %}", at=timezone.now() - timedelta(minutes=3))
    assert html.startswith('<time datetime="')
    assert "+07:00" in html  # the machine-readable value carries the zone's offset
    assert 'title="' in html and " WIB" in html
    assert '<span class="when-ago">3 min ago</span>' in html


def test_when_tag_variants(settings):
    settings.TIME_ZONE = "Asia/Jakarta"
    assert render("{% when at relative=False %}", at=AT) == (
        '<time datetime="2026-12-01T16:19:05+07:00" title="2026-12-01 16:19:05 WIB">'
        "2026-12-01 16:19</time>"
    )
    assert ">2026-12-01</time>" in render('{% when at "date" %}', at=AT)
    assert render("{% when at %}", at=None) == ""
    assert render("{{ at|stamp }} · {{ at|stamp:'seconds' }}", at=AT) == (
        "2026-12-01 16:19 · 2026-12-01 16:19:05"
    )


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=5), "just now"),
        (timedelta(minutes=3), "3 min ago"),
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=2, minutes=10), "2 h ago"),
        (timedelta(days=1, hours=1), "1 day ago"),
        (timedelta(days=5), "5 days ago"),
        (timedelta(days=100), "3 months ago"),
        (timedelta(days=800), "2 years ago"),
        (-timedelta(minutes=10), "in 10 min"),
        (-timedelta(days=2), "in 2 days"),
    ],
)
def test_relative(delta, text):
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert ago(now - delta, now=now) == text


def test_relative_of_nothing():
    assert ago(None) == ""
    assert ago(date(2026, 1, 1)) == ""


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1500000.00"), "Rp 1.500.000"),
        (Decimal("1500000.50"), "Rp 1.500.000,50"),
        (150000, "Rp 150.000"),
        ("999", "Rp 999"),
        (Decimal("0"), "Rp 0"),
        (Decimal("-20000"), "-Rp 20.000"),
        (Decimal("1234567890.05"), "Rp 1.234.567.890,05"),
        (None, ""),
        ("", ""),
        ("not money", ""),
    ],
)
def test_rupiah(value, text):
    assert rupiah(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (999, "999"), (1000, "1,000"), (2844, "2,844"), (1234567, "1,234,567"),
     (Decimal("1234.50"), "1,234.5"), (-12000, "-12,000"), (None, ""), ("n/a", "n/a")],
)  # fmt: skip
def test_grouped(value, text):
    assert grouped(value) == text


def test_filters_in_templates():
    assert render(
        "{{ total|rupiah }} from {{ n|grouped }} orders", total=Decimal("1500000.00"), n=12345
    ) == ("Rp 1.500.000 from 12,345 orders")


def test_zoned_stamp_for_reports(settings):
    settings.TIME_ZONE = "Asia/Jakarta"
    assert stamp(AT, "zoned") == "2026-12-01 16:19:05 WIB"


# What a template may still write with |date: the ISO-like forms (a day, a time of day, or the
# machine-readable "c"); anything else ("N j, Y, P", Django's DATETIME_FORMAT) is a second format.
ISO_LIKE = ("Y-m-d", "H:i", "c", "D Y-m-d")
DATE_FILTER = re.compile(r"\|date(?::(?:\"([^\"]*)\"|'([^']*)'))?")


def test_no_template_shows_a_date_time_in_another_format():
    """ "Dec. 1, 2026, 4:19 p.m." and "3 hours" are gone: {% when %}, |stamp, or an ISO |date."""
    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in sorted(root.glob("**/templates/**/*.html")):
        if ".venv" in path.parts or "site-packages" in path.parts:
            continue
        text = path.read_text()
        where = path.relative_to(root)
        offenders += [f"{where}: {bad}" for bad in ("|timesince", "|naturaltime", "|naturalday")
                      if bad in text]  # fmt: skip
        for m in DATE_FILTER.finditer(text):
            fmt = m.group(1) or m.group(2) or ""
            # a calendar's headings ("F Y", "l j F Y") name a day or a month, not a moment
            has_time = any(c in fmt for c in "aAfgGhHiPsu") or not fmt
            if has_time and not fmt.startswith(ISO_LIKE):
                offenders.append(f"{where}: {m.group(0)}")
    assert not offenders, offenders
