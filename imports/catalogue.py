"""The shop's product settings, which Sejoli keeps in WordPress and does not export.

Commission rates and access periods decide commissions and expiry dates; an order naming a
product not listed here is imported with no rate, and its commission is queued for review.
"""

from decimal import Decimal

# name -> (Sejoli product id, price, commission rate, access days or None for one-time products)
SEJOLI_PRODUCTS: dict[str, tuple[int, Decimal, Decimal, int | None]] = {
    "Kelas Ekspor Pemula": (11, Decimal("299000"), Decimal("0.20"), None),
    "Membership Eksporyuk 1 Tahun": (12, Decimal("1500000"), Decimal("0.25"), 365),
    "Membership Eksporyuk 6 Bulan": (13, Decimal("899000"), Decimal("0.25"), 182),
    "Webinar Buyer Global": (14, Decimal("99000"), Decimal("0.10"), None),
    "Mentoring Privat Ekspor": (15, Decimal("4750000"), Decimal("0.15"), None),
}
