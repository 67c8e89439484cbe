"""django-import-export widgets for the values Sejoli and the team's spreadsheets write.

Each widget's ``clean`` returns the normalised value or raises ``normalise.Invalid`` whose text
is the row's rejection reason; ``render`` writes the value back the way the file had it, so a
resource can also export (the admin's Export, the "rejected rows in the file's layout" file).
"""

from datetime import datetime
from decimal import Decimal

from import_export import widgets

from .. import normalise as n


class TextWidget(widgets.Widget):
    """Trimmed text, ``-`` read as empty (Sejoli writes ``-`` for "none"), cut to ``limit``."""

    def __init__(self, limit: int = 255, **kwargs):
        self.limit = limit
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        return n.text(value, self.limit)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class IntegerWidget(widgets.Widget):
    def __init__(self, default: int | None = None, **kwargs):
        self.default = default
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        return n.integer(value, self.default)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class EmailWidget(widgets.Widget):
    """Lower-cased, validated; ``""`` when absent; ``bad_email`` when malformed (or, with
    ``soft``, ``""`` — for columns where a broken address must not reject the row)."""

    def __init__(self, soft: bool = False, **kwargs):
        self.soft = soft
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        if not self.soft:
            return n.email(value)
        try:
            return n.email(value)
        except n.Invalid:
            return ""

    def render(self, value, obj=None, **kwargs):
        return value or ""


class PhoneWidget(widgets.Widget):
    """E.164 (``+62812…``) from whatever the buyer typed; ``""`` when not a possible number."""

    def clean(self, value, row=None, **kwargs):
        return n.phone(value)

    def render(self, value, obj=None, **kwargs):
        return value or ""


class RupiahWidget(widgets.Widget):
    """Money in every shape seen (``150000.00``, ``Rp. 1.250.000``, ``Rp150.000,00``)."""

    def __init__(self, required: bool = False, allow_negative: bool = True, **kwargs):
        self.required = required
        self.allow_negative = allow_negative
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        amount = n.money(value)
        if amount is None and self.required:
            raise n.Invalid("missing_amount")
        if amount is not None and amount < 0 and not self.allow_negative:
            raise n.Invalid("negative_amount")
        return amount

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return f"{Decimal(value):.2f}"


class DateWidget(widgets.Widget):
    """An aware datetime in Asia/Jakarta from ISO, day-first, Indonesian month names or an
    Excel serial; ``None`` for empty and ``0000-00-00`` dates."""

    def clean(self, value, row=None, **kwargs):
        return n.date(value)

    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, datetime):
            return ""
        return value.astimezone(n.JAKARTA).strftime("%Y-%m-%d %H:%M:%S")


class StatusWidget(widgets.Widget):
    """An order status code from Sejoli's Indonesian or English label, or the code itself."""

    def clean(self, value, row=None, **kwargs):
        return n.status(value)

    def render(self, value, obj=None, **kwargs):
        return value or ""


class DecimalWidget(widgets.Widget):
    """A plain decimal such as a spreadsheet's commission rate (``0.25``); ``reason`` on error."""

    def __init__(self, reason: str = "bad_number", **kwargs):
        self.reason = reason
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        raw = (value or "").strip()
        if not raw:
            return None
        try:
            return Decimal(raw.replace(",", "."))
        except ArithmeticError:
            raise n.Invalid(self.reason) from None

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class CommissionSettingWidget(widgets.Widget):
    """A product's commission as the team writes it: ``20%`` / ``12,5 %`` (percent of the
    order total) or ``Rp. 50.000`` / ``50000`` (fixed Rupiah per unit); empty = not known.
    Cleans to ``(kind, value)`` with ``kind`` ``""``, ``"percent"`` or ``"fixed"``."""

    def clean(self, value, row=None, **kwargs):
        raw = (value or "").strip()
        if not raw or raw == "-":
            return ("", None)
        if raw.endswith("%"):
            number = raw[:-1].strip().replace(",", ".")
            try:
                percent = Decimal(number)
            except ArithmeticError:
                raise n.Invalid("bad_commission") from None
            if not 0 <= percent <= 100:
                raise n.Invalid("bad_commission")
            return ("percent", percent)
        try:
            amount = n.money(raw)
        except n.Invalid:
            raise n.Invalid("bad_commission") from None
        if amount is None or amount < 0:
            raise n.Invalid("bad_commission")
        return ("fixed", amount)

    def render(self, value, obj=None, **kwargs):
        kind, amount = value or ("", None)
        if not kind:
            return ""
        if kind == "percent":
            return f"{amount.normalize():f}%"
        return f"Rp. {int(amount):,}".replace(",", ".")
