from datetime import datetime
from decimal import Decimal

import pytest

from imports import normalise as n


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("150000", "150000"), ("150.000", "150000"), ("Rp 150.000", "150000"),
        ("Rp150.000,00", "150000"), ("150000.00", "150000"), ("Rp. 1.250.000", "1250000"),
        ("- Rp. 9.900", "-9900"), ("1,250,000.50", "1250000.50"), ("99.5", "99.50"), ("", None),
    ],
)  # fmt: skip
def test_money(raw, value):
    assert n.money(raw) == (Decimal(value) if value else None)


def test_money_rejects_text():
    with pytest.raises(n.Invalid, match="bad_amount"):
        n.money("seratus ribu")


@pytest.mark.parametrize(
    "raw",
    ["081234567890", "6281234567890", "+6281234567890", "+62 812-3456-7890", "0812 3456 7890",
     "(0812) 3456 7890"],
)  # fmt: skip
def test_phone_e164(raw):
    assert n.phone(raw) == "+6281234567890"


@pytest.mark.parametrize("raw", ["", "-", "0", "12"])
def test_phone_absent(raw):
    assert n.phone(raw) == ""


def test_email():
    assert n.email("  Budi.Santoso@Gmail.COM ") == "budi.santoso@gmail.com"
    assert n.email("") == ""
    with pytest.raises(n.Invalid, match="bad_email"):
        n.email("budi@")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-02-12 02:03:00", (2025, 2, 12, 2, 3)), ("12/06/2024 08:00", (2024, 6, 12, 8, 0)),
        ("9 Desember 2025 14:03", (2025, 12, 9, 14, 3)), ("1 Agustus 2024", (2024, 8, 1, 0, 0)),
        ("2024-01-30T08:00:00", (2024, 1, 30, 8, 0)),
    ],
)  # fmt: skip
def test_dates_are_aware_jakarta(raw, expected):
    value = n.date(raw)
    assert value.tzinfo == n.JAKARTA
    assert value == datetime(*expected, tzinfo=n.JAKARTA)


def test_zero_and_impossible_dates():
    assert n.date("0000-00-00 00:00:00") is None
    with pytest.raises(n.Invalid, match="bad_date"):
        n.date("31/02/2024 10:00")


@pytest.mark.parametrize(
    ("label", "code"),
    [("Selesai", "completed"), ("Menunggu pembayaran", "on-hold"), ("Batal", "cancelled"),
     ("Delivery process", "shipping"), ("Refund", "refunded"),
     ("payment-confirm", "payment-confirm"),
     ("PAID", "completed"), ("expired", "cancelled"), ("  pesanan   diproses ", "in-progress")],
)  # fmt: skip
def test_status_labels(label, code):
    assert n.status(label) == code


def test_unknown_status():
    with pytest.raises(n.Invalid, match="unknown_status"):
        n.status("lunas?")


# --- values a spreadsheet re-save leaves behind -------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("45321.4375", (2024, 1, 30, 10, 30, 0)),  # 45292 is 2024-01-01 in Excel's 1900 system
        ("45321", (2024, 1, 30, 0, 0, 0)),
        ("45321,5", (2024, 1, 30, 12, 0, 0)),  # a comma-decimal locale
        ("45321.43402777778", (2024, 1, 30, 10, 25, 0)),  # float noise rounds to the second
        ("45321.9999999999", (2024, 1, 31, 0, 0, 0)),
        ("32874", (1990, 1, 1, 0, 0, 0)),
        ("73050.5", (2099, 12, 31, 12, 0, 0)),
    ],
)  # fmt: skip
def test_excel_serial_dates(raw, expected):
    assert n.date(raw) == datetime(*expected, tzinfo=n.JAKARTA)


@pytest.mark.parametrize("raw", ["32873", "73051", "12345", "99999.5", "4532", "453210"])
def test_excel_serials_outside_1990_2100_are_not_dates(raw):
    with pytest.raises(n.Invalid, match="bad_date"):
        n.date(raw)


@pytest.mark.parametrize(
    "raw",
    ["81234567890", "81234567890.0", "6281234567890.0", "812 3456 7890", " 81234567890 "],
)
def test_phone_stored_as_a_number(raw):
    # phonenumbers reads a national number without its trunk 0 as +62 for region ID
    assert n.phone(raw) == "+6281234567890"


@pytest.mark.parametrize("raw", ["8.12346E+10", "6.28123E+12", "8,12346E+10"])
def test_phone_in_exponent_form_lost_its_digits(raw):
    assert n.phone(raw) == ""


def test_per_row_normalisers_stay_cached():
    assert n.phone.cache_info().maxsize and n.email.cache_info().maxsize


def test_the_fast_path_for_indonesian_mobiles_agrees_with_phonenumbers():
    """normalise.phone answers Indonesian mobile numbers without phonenumbers; for every
    length and both ways of writing them, the answer is the library's."""
    import random

    import phonenumbers

    from imports import normalise

    rng = random.Random(7)
    for length in range(6, 15):
        for _ in range(200):
            national = "8" + "".join(rng.choice("0123456789") for _ in range(length - 1))
            for typed in ("0" + national, "+62" + national, "62" + national,
                          f"+62 {national[:3]}-{national[3:7]}-{national[7:]}"):  # fmt: skip
                digits = typed.replace(" ", "").replace("-", "")
                # normalise reads a leading 62 as the country code, as people mean it
                digits = "+" + digits if digits.startswith("62") else digits
                parsed = phonenumbers.parse(digits, "ID")
                library = (
                    phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                    if phonenumbers.is_possible_number(parsed)
                    else ""
                )
                normalise.phone.cache_clear()
                assert normalise.phone(typed) == library, typed
