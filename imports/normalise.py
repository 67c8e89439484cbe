"""Normalisers for the values Sejoli and the team's spreadsheet write.

Each returns the clean value or raises ``Invalid`` with a short machine-readable reason, which
becomes the rejection reason of the row.
"""

import re
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from .choices import OrderStatus

JAKARTA = ZoneInfo("Asia/Jakarta")


class Invalid(ValueError):
    """A value that cannot be normalised; ``str(exc)`` is the rejection reason."""


@lru_cache(maxsize=65536)  # buyers repeat: 100k orders come from ~18k people
def email(value: str | None) -> str:
    """Trimmed, lower-cased, validated; ``""`` when absent."""
    value = (value or "").strip().lower()
    if not value:
        return ""
    try:
        validate_email(value)
    except ValidationError:
        raise Invalid("bad_email") from None
    return value


# A spreadsheet keeps a typed phone as a number: 081234567890 becomes 81234567890 (the national
# number without its trunk 0, which phonenumbers reads as +62 for region ID), sometimes written
# back as 81234567890.0, or as 8.12346E+10 when the column was narrow (digits lost).
_INTEGRAL_FLOAT = re.compile(r"(\d+)\.0+")
_EXPONENT = re.compile(r"[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+")


# An Indonesian mobile number, 9 to 12 national digits starting with 8, written 08… or +628…
_ID_MOBILE = re.compile(r"(?:\+62|0)(8\d{8,11})")


@lru_cache(maxsize=65536)
def phone(value: str | None, region: str = "ID") -> str:
    """E.164 (``+62812…``); ``""`` when absent or not a possible number."""
    value = (value or "").strip()
    if not value or value in {"-", "0"} or _EXPONENT.fullmatch(value):
        return ""
    if m := _INTEGRAL_FLOAT.fullmatch(value):
        value = m.group(1)
    digits = re.sub(r"[^\d+]", "", value)
    if digits.startswith("62") and not digits.startswith("+"):
        digits = "+" + digits
    if region == "ID" and (m := _ID_MOBILE.fullmatch(digits)):
        # what phonenumbers answers for every Indonesian mobile number, ~20x faster (a users
        # file has a different phone on every row, so the cache above does not help)
        return "+62" + m.group(1)
    try:
        parsed = phonenumbers.parse(digits, region)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


_PHONE_QUERY = re.compile(r"\+?[\d\s().-]{4,}")


def phone_query(value: str | None, region: str = "ID") -> str:
    """What a search for a phone must look for among stored E.164 numbers; ``""`` when
    ``value`` is not a phone. The whole number is normalised as an import normalises it
    (``0853-1234-5678`` → ``+6285312345678``); a beginning is turned the same way, so a local
    ``0853…`` finds ``+62853…`` (the trunk 0 is the country code once stored)."""
    value = (value or "").strip()
    if not _PHONE_QUERY.fullmatch(value):
        return ""
    if full := phone(value, region):
        return full
    digits = re.sub(r"[^\d]", "", value)
    if value.startswith("+"):
        return "+" + digits
    if region == "ID":
        if digits.startswith("62"):
            return "+" + digits
        if digits.startswith("0"):
            return "+62" + digits[1:]
    return digits


_MONEY_JUNK = re.compile(r"(?i)rp\.?|idr|\s")


@lru_cache(maxsize=65536)  # prices repeat: a shop has a few products
def money(value: str | None) -> Decimal | None:
    """Rupiah in every shape seen: ``150000.00``, ``150.000``, ``Rp. 1.250.000``,
    ``Rp150.000,00``, ``- Rp. 9.900``. ``None`` when empty."""
    raw = (value or "").strip()
    if not raw or raw == "-":
        return None
    negative = raw.startswith("-") or raw.startswith("(")
    text = _MONEY_JUNK.sub("", raw).strip("-()")
    if not text or not re.fullmatch(r"[\d.,]+", text):
        raise Invalid("bad_amount")
    if "," in text and "." in text:
        # The last separator is the decimal one.
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif "," in text:
        head, _, tail = text.rpartition(",")
        text = text.replace(",", "") if len(tail) == 3 else head.replace(",", "") + "." + tail
    elif text.count(".") > 1 or (text.count(".") == 1 and len(text.rpartition(".")[2]) == 3):
        text = text.replace(".", "")  # dot thousands: 150.000
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Invalid("bad_amount") from None
    amount = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if amount == amount.to_integral_value():
        amount = amount.quantize(Decimal("1"))
    return -amount if negative else amount


MONTHS = {
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "february": 2, "feb": 2, "pebruari": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agu": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nov": 11, "nopember": 11,
    "desember": 12, "december": 12, "des": 12, "dec": 12,
}  # fmt: skip
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_DMY = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")
_NAMED = re.compile(r"(\d{1,2})\s+([A-Za-z]+)\s+(\d{4})(?:[ ,]+(\d{1,2})[:.](\d{2})(?::(\d{2}))?)?")


# Excel's 1900 date system: days since 1899-12-30 (which absorbs Lotus's phantom 1900-02-29),
# the fraction being the time of day. Only serials of 1990-2100 are read as dates.
_SERIAL = re.compile(r"(\d{5})(?:[.,](\d+))?")
_EXCEL_EPOCH = datetime(1899, 12, 30)
_SERIAL_RANGE = range(
    (datetime(1990, 1, 1) - _EXCEL_EPOCH).days, (datetime(2100, 1, 1) - _EXCEL_EPOCH).days
)


def _excel_serial(days: str, fraction: str | None) -> datetime:
    if int(days) not in _SERIAL_RANGE:
        raise Invalid("bad_date")
    seconds = (Decimal(f"{days}.{fraction or 0}") * 86400).to_integral_value(ROUND_HALF_UP)
    return _EXCEL_EPOCH + timedelta(seconds=int(seconds))


def date(value: str | None) -> datetime | None:
    """An aware datetime in Asia/Jakarta. ISO, day-first, Indonesian/English month names, or an
    Excel serial number (``45321.4375``, a date cell that lost its format in a re-save).
    ``None`` for empty or zero dates; ``Invalid('bad_date')`` for impossible ones."""
    raw = (value or "").strip()
    if not raw or raw.startswith("0000-00-00") or raw == "-":
        return None
    if len(raw) == 19 and raw[4] == "-" and raw[10] == " ":  # Sejoli's own Y-m-d H:i:s
        try:
            return datetime.fromisoformat(raw).replace(tzinfo=JAKARTA)
        except ValueError:
            pass  # the patterns below say why
    m = _ISO.fullmatch(raw)
    if m:
        y, mo, d, h, mi, s = m.groups()
    elif m := _DMY.fullmatch(raw):
        d, mo, y, h, mi, s = m.groups()
    elif m := _NAMED.fullmatch(raw):
        d, month_name, y, h, mi, s = m.groups()
        mo = MONTHS.get(month_name.lower())
        if mo is None:
            raise Invalid("bad_date")
    elif m := _SERIAL.fullmatch(raw):
        return _excel_serial(*m.groups()).replace(tzinfo=JAKARTA)
    else:
        raise Invalid("bad_date")
    try:
        naive = datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError:
        raise Invalid("bad_date") from None
    return naive.replace(tzinfo=JAKARTA)


_STATUS = {
    **{c.value: c.value for c in OrderStatus},
    "menunggu pembayaran": "on-hold",
    "pembayaran dikonfirmasi": "payment-confirm",
    "pesanan diproses": "in-progress",
    "proses pengiriman": "shipping",
    "selesai": "completed",
    "refund": "refunded",
    "batal": "cancelled",
    "waiting for payment": "on-hold",
    "payment confirmed": "payment-confirm",
    "order processed": "in-progress",
    "delivery process": "shipping",
    "completed": "completed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    # The migration checklist's payment_status set.
    "paid": "completed",
    "pending": "on-hold",
    "expired": "cancelled",
    "refunded": "refunded",
}


@lru_cache(maxsize=1024)
def status(value: str | None) -> str:
    """A Sejoli order status code from a label in Indonesian, English, or a code."""
    key = " ".join((value or "").strip().lower().split())
    try:
        return _STATUS[key]
    except KeyError:
        raise Invalid("unknown_status") from None


def integer(value: str | None, default: int | None = None) -> int | None:
    raw = (value or "").strip()
    if not raw:
        return default
    try:
        return int(Decimal(raw))
    except (InvalidOperation, ValueError):
        raise Invalid("bad_number") from None


def text(value: str | None, limit: int = 255) -> str:
    value = (value or "").strip()
    return "" if value == "-" else value[:limit]
