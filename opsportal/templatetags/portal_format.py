"""One way to show times, money and counts on every page.

- ``{% when dt %}``: ``2026-12-01 16:19`` in the current time zone (``TIME_ZONE``, or whatever
  a middleware activated for the user) with "3 min ago" beside it, as
  ``<time datetime="…ISO…" title="…with seconds and zone…">``. ``{% when dt "date" %}`` shows
  the day only; ``{% when dt relative=False %}`` leaves the "ago" out (tables of many rows).
- ``|stamp``: the same text without markup (titles; ``|stamp:"zoned"`` adds seconds and the
  zone for reports); ``|ago``: "3 min ago".
- ``|rupiah``: ``Rp 1.500.000`` (Indonesian thousands dot, ``,50`` only when there are cents).
- ``|grouped``: ``12,345`` (the portal's English text: a comma between thousands).
"""

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django import template
from django.utils import timezone
from django.utils.html import format_html

register = template.Library()

STAMP = "%Y-%m-%d %H:%M"
STAMP_SECONDS = "%Y-%m-%d %H:%M:%S"
DAY = "%Y-%m-%d"


def _local(value: datetime) -> datetime:
    if timezone.is_naive(value):  # never stored so; shown as the current zone's wall time
        return value
    return timezone.localtime(value)


def stamp(value, kind: str = "minute") -> str:
    """``2026-12-01 16:19`` (``kind="seconds"``: with seconds, ``"zoned"``: with seconds and the
    zone's name, for reports read away from the portal; ``"date"``: the day only)."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        value = _local(value)
    elif not isinstance(value, date):
        return str(value)
    if kind == "date" or not isinstance(value, datetime):
        return value.strftime(DAY)
    if kind == "zoned":
        return f"{value.strftime(STAMP_SECONDS)} {value.tzname() or ''}".rstrip()
    return value.strftime(STAMP_SECONDS if kind == "seconds" else STAMP)


def ago(value, now: datetime | None = None) -> str:
    """ "just now", "3 min ago", "2 h ago", "5 days ago", "in 10 min" for a time to come."""
    if not isinstance(value, datetime):
        return ""
    now = now or timezone.now()
    if timezone.is_naive(value) != timezone.is_naive(now):
        return ""
    delta = now - value
    future = delta < timedelta(0)
    seconds = abs(int(delta.total_seconds()))
    if seconds < 45:
        return "just now" if not future else "in a moment"
    if seconds < 3600:
        text = f"{max(1, round(seconds / 60))} min"
    elif seconds < 86400:
        text = f"{seconds // 3600} h"
    elif seconds < 86400 * 45:
        days = seconds // 86400
        text = f"{days} day{'s' if days != 1 else ''}"
    elif seconds < 86400 * 365:
        months = seconds // (86400 * 30)
        text = f"{months} month{'s' if months != 1 else ''}"
    else:
        years = seconds // (86400 * 365)
        text = f"{years} year{'s' if years != 1 else ''}"
    return f"in {text}" if future else f"{text} ago"


def _zone_name(value: datetime) -> str:
    return value.tzname() or ""


@register.simple_tag(name="when")
def when(value, kind: str = "minute", relative: bool = True):
    """``<time>`` with the one date-time format, its full value as a tooltip, and how long ago."""
    if value in (None, ""):
        return ""
    if not isinstance(value, datetime):
        return format_html('<time datetime="{}">{}</time>', stamp(value, "date"), stamp(value))
    local = _local(value)
    shown = stamp(local, kind)
    title = f"{stamp(local, 'seconds')} {_zone_name(local)}".strip()
    if not relative or kind == "date":
        return format_html(
            '<time datetime="{}" title="{}">{}</time>', local.isoformat(), title, shown
        )
    return format_html(
        '<time datetime="{}" title="{}">{}</time> <span class="when-ago">{}</span>',
        local.isoformat(),
        title,
        shown,
        ago(value),
    )


register.filter("stamp", stamp)
register.filter("ago", ago)


def _decimal(value) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def rupiah(value) -> str:
    """``Rp 1.500.000``; ``Rp 1.500.000,50`` with cents; ``-Rp 20.000`` below zero."""
    amount = _decimal(value)
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    amount = abs(amount).quantize(Decimal("0.01"))
    whole = int(amount)
    cents = int((amount - whole) * 100)
    text = f"{whole:,}".replace(",", ".")
    return f"{sign}Rp {text},{cents:02d}" if cents else f"{sign}Rp {text}"


@register.filter
def grouped(value) -> str:
    """``12,345`` for a count; a fraction keeps up to two decimals (``1,234.5``)."""
    number = _decimal(value)
    if number is None:
        return "" if value in (None, "") else str(value)
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number:,.2f}".rstrip("0").rstrip(".")
