"""Reading the files users upload: layout recognition, encoding, delimiter, Sejoli's quirks.

A ``Source`` is opened from a path and yields ``(row_number, {column: value})`` lazily, so a
resumed job re-reads the file cheaply up to its checkpoint and memory stays flat.
Row numbers count data rows from 1 (the header is row 0).
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError

from .choices import JobKind

MAX_BYTES = 50 * 1024 * 1024
MAX_COLUMNS = 200
DELIMITERS = ",;\t|"

LAYOUTS: dict[str, list[list[str]]] = {
    JobKind.USERS: [["User ID", "name", "email", "phone", "address", "affiliate", "group"]],
    JobKind.ORDERS: [
        [
            "INV",
            "product",
            "created_at",
            "name",
            "email",
            "phone",
            "quantity",
            "price",
            "status",
            "affiliate",
            "affiliate_id",
            "address",
            "payment",
            "courier",
            "variant",
            "notes",
        ],
        [
            "INV",
            "product",
            "created_at",
            "name",
            "email",
            "phone",
            "price",
            "status",
            "affiliate",
            "affiliate_id",
            "address",
            "courier",
            "variant",
        ],
    ],
    JobKind.COMMISSIONS: [
        ["user_id", "affiliate name", "email", "phone", "commission", "bank info"]
    ],
    JobKind.SUBSCRIPTIONS: [
        [
            "INV",
            "product",
            "created_at",
            "name",
            "email",
            "phone",
            "expired_date",
            "expired_day",
            "renewal_link",
        ]
    ],
    JobKind.SHEET_ORDERS: [
        [
            "order_id",
            "order_date",
            "product_id",
            "product_name",
            "buyer_name",
            "buyer_email",
            "buyer_phone",
            "buyer_whatsapp",
            "amount",
            "paid_amount",
            "payment_status",
            "paid_date",
            "expiry_date",
            "affiliate_code",
            "affiliate_name",
            "affiliate_email",
            "affiliate_commission_rate",
            "affiliate_commission_amount",
        ]
    ],
    JobKind.SHEET_MEMBERSHIPS: [
        [
            "membership_id",
            "user_email",
            "product_id",
            "product_name",
            "start_date",
            "expiry_date",
            "status",
            "price",
            "order_id",
        ]
    ],
    JobKind.SHEET_AFFILIATES: [
        [
            "affiliate_code",
            "affiliate_name",
            "affiliate_email",
            "affiliate_phone",
            "commission_rate",
            "total_referrals",
            "total_commissions",
            "total_paid",
            "join_date",
        ]
    ],
}

# PHP prints notices into the download before or between CSV lines.
PHP_NOISE = re.compile(r"^\s*(Warning|Notice|Deprecated|Fatal error|Parse error)\b.*", re.I)


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in: UTF-8 (with or without BOM), else cp1252."""
    if b"\x00" in data:
        raise ValidationError("The file contains NUL bytes: it is binary, not CSV or XLSX.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-8-sig" and data.startswith(b"\xef\xbb\xbf"):
            return text, "utf-8-sig"
        return text, "utf-8" if encoding == "utf-8-sig" else encoding
    raise ValidationError("The file is neither UTF-8 nor cp1252 text.")


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\r\n\t")
    return bool(sample) and controls / len(sample) > 0.01


def _find_header(text: str) -> tuple[str, int, str, list[str]] | None:
    """(kind, offset of the header in text, delimiter, columns) of the first known layout."""
    head = text[:8192]
    best = None
    for kind, variants in LAYOUTS.items():
        for columns in variants:
            for delim in DELIMITERS:
                line = delim.join(columns)
                pos = head.find(line)
                if pos < 0:
                    continue
                end = pos + len(line)
                # the header must end the line (so the 13-column order layout does not match
                # the first columns of the 16-column one)
                if end < len(head) and head[end] not in "\r\n":
                    continue
                if best is None or len(columns) > len(best[3]):
                    best = (kind, pos, delim, columns)
    return best


@dataclass
class Source:
    kind: str
    columns: list[str]
    encoding: str
    delimiter: str
    text: str = field(repr=False)
    mapping: dict[str, str] = field(default_factory=dict)
    xlsx_rows: list | None = field(default=None, repr=False)

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        width = len(self.columns)
        if self.xlsx_rows is not None:
            records = iter(self.xlsx_rows)
        else:
            records = csv.reader(
                io.StringIO(self.text, newline=""), delimiter=self.delimiter, strict=True
            )
            next(records, None)  # header
        number = 0
        try:
            for record in records:
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank line
                if len(record) == 1 and PHP_NOISE.match(record[0]):
                    continue
                number += 1
                if len(record) != width:
                    yield number, {"__error__": f"expected {width} columns, found {len(record)}"}
                    continue
                row = dict(zip(self.columns, record, strict=True))
                if self.mapping:
                    row = {
                        name: row.get(col, "") if col else "" for name, col in self.mapping.items()
                    }
                yield number, row
        except csv.Error as exc:
            raise ValidationError(
                f"The file is not valid CSV near data row {number + 1}: {exc}"
            ) from exc

    def count(self) -> int:
        return sum(1 for _ in self.rows())


def _read_xlsx(data: bytes) -> list[list[str]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ValidationError(f"The XLSX file cannot be read: {exc}") from exc
    sheet = book.worksheets[0]
    rows = []
    for values in sheet.iter_rows(values_only=True):
        rows.append(["" if v is None else str(v) for v in values])
    book.close()
    # trailing empty columns
    while rows and rows[0] and rows[0][-1] == "":
        width = len(rows[0]) - 1
        rows = [r[:width] for r in rows]
    return rows


def open_source(
    path: str | Path, kind: str = "auto", mapping: dict[str, str] | None = None
) -> Source:
    """Recognise the file's layout; raise ``ValidationError`` with a clear message if it can't."""
    data = Path(path).read_bytes()
    return parse_bytes(data, kind=kind, mapping=mapping)


def parse_bytes(data: bytes, kind: str = "auto", mapping: dict[str, str] | None = None) -> Source:
    if not data.strip():
        raise ValidationError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ValidationError(
            f"The file is {len(data) / 1_048_576:.0f} MB; "
            f"the limit is {MAX_BYTES // 1_048_576} MB. Split it and import the parts."
        )
    if data[:4] == b"PK\x03\x04":
        rows = _read_xlsx(data)
        if not rows:
            raise ValidationError("The XLSX file is empty.")
        text = "\n".join(",".join(r) for r in rows[:1])
        source = _recognise(text, kind, mapping, "xlsx", ",")
        source.xlsx_rows = rows[1:]
        return source
    text, encoding = decode(data)
    if _looks_binary(text):
        raise ValidationError("The file looks binary (control characters), not CSV.")
    return _recognise(text, kind, mapping, encoding, None)


def _recognise(text, kind, mapping, encoding, delimiter) -> Source:
    found = _find_header(text)
    if found and kind not in ("auto", found[0]) and not mapping:
        raise ValidationError(f"The file's header is a {found[0]} export, not {kind}.")
    if found and not mapping:
        kind, pos, delim, columns = found
        text = text[pos:]  # drops text PHP printed before the header
        source = Source(kind=kind, columns=columns, encoding=encoding, delimiter=delim, text=text)
    else:
        first = text.splitlines()[0] if text else ""
        if first.count(",") + first.count(";") + first.count("\t") + 1 > MAX_COLUMNS:
            raise ValidationError(f"The header has more than {MAX_COLUMNS} columns.")
        if not mapping:
            raise ValidationError(
                "The header matches no known layout (Sejoli users, orders, commissions, "
                "subscriptions, or the migration spreadsheet). Map its columns to fields."
            )
        if kind == "auto" or kind not in LAYOUTS:
            raise ValidationError("Choose the kind of data when you map columns.")
        delim = delimiter or max(DELIMITERS, key=first.count)
        columns = next(csv.reader([first], delimiter=delim))
        missing = [c for c in mapping.values() if c and c not in columns]
        if missing:
            raise ValidationError(f"Mapped columns not in the file: {', '.join(missing)}")
        source = Source(kind=kind, columns=columns, encoding=encoding, delimiter=delim, text=text)
        source.mapping = {name: mapping.get(name) or "" for name in LAYOUTS[kind][0]}
    if len(source.columns) > MAX_COLUMNS:
        raise ValidationError(f"The header has more than {MAX_COLUMNS} columns.")
    return source
