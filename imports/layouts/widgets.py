"""django-import-export widgets for the values Sejoli and the team's spreadsheets write.

Each widget's ``clean`` returns the normalised value or raises ``normalise.Invalid`` whose text
is the row's rejection reason; ``render`` writes the value back the way the file had it, so a
resource can also export (the admin's Export, the "rejected rows in the file's layout" file).
"""

from datetime import datetime
from decimal import Decimal

from import_export import widgets

from .. import normalise as n


class Widget(widgets.Widget):
    """A widget whose ``reader()`` is a one-argument function of the cell: the job engine calls
    it for every cell of every row (2 million calls for 100k orders), so it skips the
    ``clean(value, row=None, **kwargs)`` protocol and any wrapper around the normaliser."""

    def reader(self):
        return self.clean


class TextWidget(Widget):
    """Trimmed text, ``-`` read as empty (Sejoli writes ``-`` for "none"), cut to ``limit``."""

    def __init__(self, limit: int = 255, **kwargs):
        self.limit = limit
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        return n.text(value, self.limit)

    def reader(self):
        limit = self.limit

        def read(value):  # normalise.text, inlined
            if not value:
                return ""
            value = value.strip()
            return "" if value == "-" else value[:limit]

        return read

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class IntegerWidget(Widget):
    def __init__(self, default: int | None = None, **kwargs):
        self.default = default
        super().__init__(**kwargs)

    def clean(self, value, row=None, **kwargs):
        return n.integer(value, self.default)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class EmailWidget(Widget):
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

    def reader(self):
        return self.clean if self.soft else n.email

    def render(self, value, obj=None, **kwargs):
        return value or ""


class PhoneWidget(Widget):
    """E.164 (``+62812…``) from whatever the buyer typed; ``""`` when not a possible number."""

    def clean(self, value, row=None, **kwargs):
        return n.phone(value)

    def reader(self):
        return n.phone

    def render(self, value, obj=None, **kwargs):
        return value or ""


class RupiahWidget(Widget):
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


class DateWidget(Widget):
    """An aware datetime in Asia/Jakarta from ISO, day-first, Indonesian month names or an
    Excel serial; ``None`` for empty and ``0000-00-00`` dates."""

    def clean(self, value, row=None, **kwargs):
        return n.date(value)

    def reader(self):
        return n.date

    def render(self, value, obj=None, **kwargs):
        if not isinstance(value, datetime):
            return ""
        return value.astimezone(n.JAKARTA).strftime("%Y-%m-%d %H:%M:%S")


class StatusWidget(Widget):
    """An order status code from Sejoli's Indonesian or English label, or the code itself."""

    def clean(self, value, row=None, **kwargs):
        return n.status(value)

    def reader(self):
        return n.status

    def render(self, value, obj=None, **kwargs):
        return value or ""


class DecimalWidget(Widget):
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


class CommissionSettingWidget(Widget):
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
