"""Reading the files users upload: layout recognition, encoding, delimiter, Sejoli's quirks.

A ``Source`` is opened from a path and yields ``(row_number, {column: value})`` lazily, so a
resumed job re-reads the file cheaply up to its checkpoint and memory stays flat.
Row numbers count data rows from 1 (the header is row 0). Rows are keyed by the layout's
canonical column names (the strings in ``LAYOUTS``), whatever the file's spelling and order.

Real files do not start with a clean header, so the header is searched for:
- PHP ``fputcsv`` quotes every field holding a space, header names included
  (``"User ID",name,…``), and writes a value's ``\\"`` without doubling the quote;
- Sejoli prints ``Format distrik tidak sesuai.`` once per odd order before the header, on the
  same line (tens of KB on a big export), and PHP may print ``Warning: …`` lines around it;
- a spreadsheet re-save brings a BOM, CRLF, another delimiter, other case or spacing in the
  names, reordered columns and trailing empty header cells.
"""

import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from operator import itemgetter
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from .choices import JobKind

# kind -> its layouts, each a list of canonical column names (the keys of every row read),
# declared once by the layouts' django-import-export resources
from .layouts import LAYOUTS

MAX_BYTES = 50 * 1024 * 1024
MAX_COLUMNS = 200
DELIMITERS = ",;\t|"
# The header is looked for in the first lines only, so a file of noise is refused after bounded
# work. 4 MB holds the notices of a multi-million-order export; 500 lines, any PHP warnings.
SCAN_LINES = 500
SCAN_CHARS = 4 * 1024 * 1024
XLSX_MAGIC = b"PK\x03\x04"
# Defaults of the settings of the same name (IMPORT_XLSX_MAX_UNCOMPRESSED, ...): an XLSX is a
# zip archive, and a few MB of it can hold gigabytes of sheet XML (a "zip bomb").
XLSX_MAX_UNCOMPRESSED = 200 * 1024 * 1024
XLSX_MAX_RATIO = 100
XLSX_MAX_MEMBERS = 1000
MAX_ROWS = 1_000_000
# Below this size a member's compression ratio says nothing (a small XML of spaces is 1000:1).
_RATIO_FLOOR = 1024 * 1024


def max_rows() -> int:
    return getattr(settings, "IMPORT_MAX_ROWS", MAX_ROWS)


def xlsx_check(file, *, max_uncompressed: int | None = None) -> None:
    """Refuse an XLSX whose archive would unpack to too much, before anything unpacks it.

    Reads only the zip's central directory (the declared size of each member, which also
    bounds what Python's zipfile will ever inflate: it stops at the declared size). ``file``
    is bytes, a path or a seekable binary file object. Raises ``ValidationError``."""
    limit = max_uncompressed or getattr(
        settings, "IMPORT_XLSX_MAX_UNCOMPRESSED", XLSX_MAX_UNCOMPRESSED
    )
    ratio_limit = getattr(settings, "IMPORT_XLSX_MAX_RATIO", XLSX_MAX_RATIO)
    if isinstance(file, bytes | bytearray):
        file = io.BytesIO(file)
    position = file.tell() if hasattr(file, "tell") else None
    try:
        with zipfile.ZipFile(file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise ValidationError(f"The XLSX file cannot be read: {exc}") from exc
    finally:
        if position is not None:
            file.seek(position)
    if len(members) > XLSX_MAX_MEMBERS:
        raise ValidationError(
            f"The XLSX file holds {len(members):,} parts; a spreadsheet has far fewer."
        )
    total = sum(m.file_size for m in members)
    if total > limit:
        raise ValidationError(
            f"The XLSX file unpacks to {total / 1_048_576:,.0f} MB; the limit is "
            f"{limit // 1_048_576:,} MB. Save the sheet as CSV, or split it."
        )
    for m in members:
        ratio = m.file_size // max(m.compress_size, 1)
        if m.file_size > _RATIO_FLOOR and ratio > ratio_limit:
            raise ValidationError(
                f"The XLSX part {m.filename[:80]} unpacks to {ratio:,} times its packed size "
                f"(the limit is {ratio_limit}:1): it is not an ordinary spreadsheet."
            )


# PHP prints notices into the download before or between CSV lines, as text or as HTML.
PHP_NOISE = re.compile(
    r"\s*(?:<br\s*/?>\s*)*(?:<b>\s*)?(?:PHP\s+)?"
    r"(?:Warning|Notice|Deprecated|Fatal error|Parse error|Strict Standards)\s*(?:</b>)?\s*:"
    r"|\s*<br\s*/?>\s*$",
    re.I,
)


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


# --- column names -------------------------------------------------------------------------------
_KEY_SEPARATORS = re.compile(r"[\s_\-]+")
_KEY_TRIM = ' \t\r\n"\ufeff'
_LONG_CELL = 256


@lru_cache(maxsize=4096)
def column_key(name: str) -> str:
    """A header name as compared: ``"User ID"``, `` user_id `` and ``USER-ID`` are one name."""
    return _KEY_SEPARATORS.sub(" ", name.strip(_KEY_TRIM).casefold()).strip()


def _cell_key(cell: str) -> str:
    # A cell holding glued notices can be megabytes: only its end can be a header name, and the
    # leading NUL keeps it from ever equalling one.
    if len(cell) > _LONG_CELL:
        return "\x00" + column_key(cell[-_LONG_CELL:])
    return column_key(cell)


def _clean(cell: str) -> str:
    return cell.strip(_KEY_TRIM)


def _label(kind: str) -> str:
    return JobKind(kind).label if kind in JobKind.values else str(kind)


@dataclass(frozen=True)
class _Layout:
    kind: str
    columns: tuple[str, ...]
    keys: dict[str, str]  # normalised name -> canonical column


def _layouts() -> list[_Layout]:
    """``LAYOUTS`` as compared; read at each call, so ``LAYOUTS`` stays the single input."""
    return [
        _Layout(kind, tuple(columns), {column_key(c): c for c in columns})
        for kind, variants in LAYOUTS.items()
        for columns in variants
    ]


def layout_fields(kind: str) -> list[str]:
    """The fields a mapping fills for ``kind`` (its first, most complete layout)."""
    if kind not in LAYOUTS:
        raise ValidationError("Choose the kind of data when you map columns.")
    return list(LAYOUTS[kind][0])


def canonical_mapping(kind: str, mapping: dict[str, str]) -> dict[str, str]:
    """``{field: file column}`` with every field of the layout, fields named as in ``LAYOUTS``
    (``user id`` is ``User ID``); later entries win. Unknown fields are an error."""
    fields = layout_fields(kind)
    by_key = {column_key(f): f for f in fields}
    out = dict.fromkeys(fields, "")
    unknown = []
    for name, column in mapping.items():
        canonical = by_key.get(column_key(name))
        if canonical is None:
            unknown.append(name)
        else:
            out[canonical] = (column or "").strip()
    if unknown:
        raise ValidationError(
            f"Unknown field(s) for {_label(kind)}: {', '.join(unknown)}. "
            f"Its fields are: {', '.join(fields)}."
        )
    if not any(out.values()):
        raise ValidationError("The mapping names no file column.")
    return out


# --- candidate header rows ----------------------------------------------------------------------
@dataclass
class _Row:
    """A line of the file's head split on one delimiter (or a spreadsheet row)."""

    at: int  # offset of the line in the text, or index of the spreadsheet row
    delimiter: str
    cells: list[str]  # CSV: split from the right, so cells[0] may hold any glued text
    wide: bool  # more cells than MAX_COLUMNS
    slack: int = 0  # trailing empty cells (spreadsheet re-saves add them)
    keys: list[str] = field(default_factory=list)

    def __post_init__(self):
        while self.cells and not _clean(self.cells[-1]):
            self.cells.pop()
            self.slack += 1
        self.keys = [_cell_key(c) for c in self.cells]


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Offset and text of the non-blank lines in the scan window. A line running past the window
    ends the scan: its end (where a header would be) is not seen."""
    limit = min(len(text), SCAN_CHARS)
    newline = "\n" if text.find("\n", 0, limit) >= 0 else "\r"  # old Mac CSV ends lines with CR
    pos = 0
    for _ in range(SCAN_LINES):
        if pos >= limit:
            return
        end = text.find(newline, pos, limit)
        if end < 0:
            if limit < len(text):
                return
            end = len(text)
        line = text[pos:end].rstrip("\r")
        if line.strip():
            yield pos, line
        pos = end + 1


def _text_rows(text: str) -> list[_Row]:
    rows = []
    for at, line in _lines(text):
        for delim in DELIMITERS:
            if delim in line:
                cells = line.rsplit(delim, MAX_COLUMNS)
                rows.append(_Row(at, delim, cells, wide=len(cells) > MAX_COLUMNS))
    return rows


def _table_rows(table: list[list[str]]) -> list[_Row]:
    return [
        _Row(i, ",", list(cells), wide=len(cells) > MAX_COLUMNS)
        for i, cells in enumerate(table[:SCAN_LINES])
        if any(c.strip() for c in cells)
    ]


def _glue_offset(cell: str, key: str) -> int | None:
    """Where the header name ``key`` starts at the end of ``cell`` (text may be glued before
    it, like Sejoli's notices); None when the cell does not end with it."""
    name = r"[\s_\-]+".join(map(re.escape, key.split(" ")))
    pattern = re.compile(rf'\s*(?:"\s*{name}\s*"|{name})\s*\Z', re.I)
    found = pattern.search(cell, max(0, len(cell) - _LONG_CELL))
    return found.start() if found else None


@dataclass
class _Match:
    layout: _Layout
    start: int  # index of the header's first cell in the row
    glue: int  # characters of glued text before the header inside that cell
    positions: list[int | None]  # file position of each canonical column


def _match(row: _Row, layout: _Layout) -> _Match | None:
    """The header as the row's last cells, in any order: the set of names must be the layout's
    (so the 13-column orders layout never matches part of the 16-column one)."""
    n, keys = len(layout.columns), row.keys
    if len(keys) < n:
        return None
    start = len(keys) - n
    rest = keys[start + 1 :]
    if len(set(rest)) != n - 1 or not set(rest) <= layout.keys.keys():
        return None
    (first,) = layout.keys.keys() - set(rest)
    glue = 0 if keys[start] == first else _glue_offset(row.cells[start], first)
    if glue is None:
        return None
    order = [first, *rest]
    return _Match(layout, start, glue, [order.index(column_key(c)) for c in layout.columns])


def _find_layout(rows: list[_Row], layouts: list[_Layout]) -> tuple[_Row, _Match] | None:
    """The first line holding a known header; on that line, the layout with most columns."""
    best = None
    for row in rows:
        if best and row.at != best[0].at:
            break
        for layout in layouts:
            found = _match(row, layout)
            if found and (best is None or _size(found) > _size(best[1])):
                best = (row, found)
    return best


def _size(found: _Match) -> int:
    return len(found.layout.columns)


def _find_mapped(rows: list[_Row], wanted: set[str]) -> tuple[_Row | None, dict[str, int], int]:
    """The first row naming every mapped column (normalised): (row, key -> position, glue).
    When none does, the row naming most of them, for the error."""
    best: tuple[_Row | None, dict[str, int], int] = (None, {}, 0)
    for row in rows:
        index: dict[str, int] = {}
        for i, key in enumerate(row.keys):
            index.setdefault(key, i)
        glue = 0
        if row.keys and row.keys[0] not in wanted:
            for key in wanted - index.keys():
                offset = _glue_offset(row.cells[0], key)
                if offset is not None:
                    index[key], glue = 0, offset
                    break
        if wanted <= index.keys():
            return row, index, glue
        if len(wanted & index.keys()) > len(wanted & best[1].keys()):
            best = (row, index, glue)
    return best


# --- the error when nothing matches -------------------------------------------------------------
NO_LAYOUT = (
    "The header matches no known layout (Sejoli users, orders, commissions, subscriptions, "
    "product settings, or the migration spreadsheet)."
)


def _keys_against(row: _Row, layout: _Layout) -> list[str]:
    """The row's names, its first cell read as a layout name when one is glued to its end."""
    keys = list(row.keys)
    if keys and keys[0] not in layout.keys:
        for key in layout.keys:
            if keys[0].endswith(key) and _glue_offset(row.cells[0], key) is not None:
                keys[0] = key
                break
    return keys


def _closest(rows: list[_Row], layouts: list[_Layout]) -> tuple[_Row, _Layout, list[str]] | None:
    best, best_score = None, (0, 0)
    for row in rows:
        for layout in layouts:
            keys = _keys_against(row, layout)
            shared = len(set(keys) & layout.keys.keys())
            score = (shared, -len(set(keys) ^ layout.keys.keys()))
            if shared and score > best_score:
                best, best_score = (row, layout, keys), score
    return best


def _shortlist(names: list[str], limit: int = 10) -> str:
    shown = [n if len(n) <= 40 else n[:37] + "…" for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return (", ".join(shown) + more) or "none"


def _no_match(rows: list[_Row], kind: str) -> ValidationError:
    if rows and rows[0].wide:
        return ValidationError(f"The header has more than {MAX_COLUMNS} columns.")
    rows = [row for row in rows if not PHP_NOISE.match(row.cells[0])]
    if not rows:
        return ValidationError(
            f"{NO_LAYOUT} No line of the first {SCAN_LINES} lines "
            f"(or {SCAN_CHARS // 1_048_576} MB) of the file holds a header."
        )
    layouts = [lay for lay in _layouts() if kind in ("auto", lay.kind)]
    closest = _closest(rows, layouts)
    if closest is None:
        return ValidationError(f"{NO_LAYOUT} Map its columns to fields.")
    row, layout, keys = closest
    missing = [c for c in layout.columns if column_key(c) not in keys]
    unexpected = [
        _clean(cell) for cell, key in zip(row.cells, keys, strict=True) if key not in layout.keys
    ]
    shared = len(layout.columns) - len(missing)
    return ValidationError(
        f"{NO_LAYOUT} Closest: {_label(layout.kind)} ({len(layout.columns)} columns, "
        f"{shared} found) — missing: {_shortlist(missing)}; "
        f"unexpected: {_shortlist(unexpected)}. Rename the columns or map them to fields."
    )


# --- reading rows -------------------------------------------------------------------------------
_QUOTES_AFTER_BACKSLASH = re.compile(r'(?<=\\)"+')


def _line_chunks(text: str) -> Iterator[str]:
    """The text's lines, line ends kept (csv joins a quoted cell's lines itself). Not
    ``io.StringIO``: it holds a copy at four bytes a character (~70 MB for a 100k-order export,
    measured)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        end = size if end < 0 else end + 1
        yield text[start:end]
        start = end


def _php_unescape(text: str, delimiter: str) -> str:
    """Make PHP's backslash-quotes readable by Python's csv, which cannot read them: without an
    escapechar it stops at the quote, with ``escapechar="\\\\"`` it drops every backslash.

    PHP's fputcsv writes a quote directly after a backslash without doubling it (``a\\"b`` is
    written ``"a\\"b"``); other writers (Excel, Python) double every quote (``"a\\""b"``). Inside
    a field, so, a run of quotes after a backslash is odd only from PHP; where the field closes
    (the delimiter or a line end follows), it is even only from PHP. Such a run gets the one
    quote PHP left out. (A value whose ``\\"`` is followed by the delimiter or a line break is
    ambiguous in PHP's format; it is read as a value ending in a backslash.)"""
    if '\\"' not in text:
        return text
    ends = {delimiter, "\r", "\n"}

    def add_missing_quote(run: re.Match) -> str:
        closes = run.end() == len(text) or text[run.end()] in ends
        from_php = (len(run.group()) % 2 == 1) != closes
        return run.group() + '"' if from_php else run.group()

    return _QUOTES_AFTER_BACKSLASH.sub(add_missing_quote, text)


def _is_noise(record: list[str], delimiter: str, width: int) -> bool:
    if not PHP_NOISE.match(record[0]):
        return False
    # a row of the right width is data unless it reads like PHP's "… in FILE on line N"
    return len(record) != width or " on line " in delimiter.join(record)


@dataclass
class Source:
    kind: str
    columns: list[str]  # the keys of each row: the layout's canonical names
    encoding: str
    delimiter: str
    text: str = field(repr=False)  # CSV from the header on (text printed before it dropped)
    mapping: dict[str, str] = field(default_factory=dict)  # {field: file column} when mapped
    xlsx: "XlsxBody | None" = field(default=None, repr=False)  # a spreadsheet's data rows
    positions: list[int | None] | None = None  # file position of each column; None: in order
    width: int = 0  # cells in the file's header
    slack: int = 0  # trailing empty header cells a row may also carry
    header: list[str] = field(default_factory=list)  # the header as the file spells it

    def __post_init__(self):
        self.width = self.width or len(self.columns)
        if self.positions is None:
            self.positions = list(range(len(self.columns)))

    def rows(self) -> Iterator[tuple[int, dict[str, str]]]:
        pick = self._picker()
        number = 0
        limit = max_rows()
        try:
            for record in self._records():
                if not record or all(not cell.strip() for cell in record):
                    continue  # blank line
                if _is_noise(record, self.delimiter, self.width):
                    continue
                number += 1
                if number > limit:
                    raise ValidationError(
                        f"The file has more than {limit:,} data rows; split it and import the "
                        "parts."
                    )
                cells = self._fit(record)
                if cells is None:
                    error = f"expected {self.width} columns, found {len(record)}"
                    yield number, {"__error__": error}
                    continue
                yield number, pick(cells)
        except csv.Error as exc:
            raise ValidationError(
                f"The file is not valid CSV near data row {number + 1}: {exc}"
            ) from exc

    def count(self) -> int:
        return sum(1 for _ in self.rows())

    def _records(self) -> Iterator[list[str]]:
        if self.xlsx is not None:
            return self.xlsx.rows()
        records = csv.reader(_line_chunks(self.text), delimiter=self.delimiter, strict=True)
        next(records, None)  # the header
        return records

    def _fit(self, record: list[str]) -> list[str] | None:
        """The record cut or padded to the header's width; None when its width is wrong.
        Trailing cells past the header are accepted only empty (a spreadsheet's padding)."""
        n, width = len(record), self.width
        if n == width:
            return record
        if self.xlsx is not None:  # a spreadsheet row stops at its last non-empty cell
            return record + [""] * (width - n) if n < width else None
        if width < n <= width + self.slack and not any(c.strip() for c in record[width:]):
            return record[:width]
        return None

    def _picker(self):
        columns, positions = self.columns, self.positions
        if positions == list(range(self.width)):
            return lambda cells: dict(zip(columns, cells, strict=True))
        if None not in positions and len(positions) > 1:
            get = itemgetter(*positions)
            return lambda cells: dict(zip(columns, get(cells), strict=True))
        return lambda cells: {
            c: "" if p is None else cells[p] for c, p in zip(columns, positions, strict=True)
        }


# --- spreadsheets -------------------------------------------------------------------------------
def cell_text(value) -> str:
    """A spreadsheet cell as the CSV export would have written it, where that is unambiguous:
    datetimes as ``YYYY-MM-DD HH:MM:SS``, integral floats (``150000.0``) as integers. Numbers
    that lost something (a phone's leading 0, a date as a serial) are left to ``normalise``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        # Excel stores time as a fraction of a day: 10:30 may come back as 10:29:59.999987
        value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, time):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    """The first sheet's rows, streamed (openpyxl's read-only mode: memory stays flat), each
    cut after its last non-empty cell. The archive is checked (``xlsx_check``) before openpyxl
    sees it, and the rows read are capped (``IMPORT_MAX_ROWS`` plus the header's search)."""
    from openpyxl import load_workbook

    xlsx_check(data)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ValidationError(f"The XLSX file cannot be read: {exc}") from exc
    limit = max_rows() + SCAN_LINES
    try:
        sheet = book.worksheets[0]
        sheet.reset_dimensions()  # a wrong <dimension> would cut rows short
        for number, values in enumerate(sheet.iter_rows(values_only=True)):
            if number >= limit:
                raise ValidationError(
                    f"The spreadsheet has more than {max_rows():,} rows; split it and import "
                    "the parts."
                )
            cells = [cell_text(v) for v in values]
            while cells and not cells[-1].strip():
                cells.pop()
            yield cells
    finally:
        book.close()


def _read_xlsx(data: bytes) -> list[list[str]]:
    """The first rows of the sheet, where its header is looked for."""
    rows = _xlsx_rows(data)
    try:
        return list(itertools.islice(rows, SCAN_LINES))
    finally:
        rows.close()


@dataclass
class XlsxBody:
    """A spreadsheet's data rows, read again from the file each time they are iterated."""

    data: bytes = field(repr=False)
    skip: int  # rows before the first data row (the header's index + 1)
    start: int  # index of the header's first cell

    def rows(self) -> Iterator[list[str]]:
        rows = _xlsx_rows(self.data)
        try:
            for cells in itertools.islice(rows, self.skip, None):
                yield cells[self.start :]
        finally:
            rows.close()


# --- recognition --------------------------------------------------------------------------------
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
    if kind != "auto" and kind not in LAYOUTS:
        raise ValidationError(f"Unknown kind of data: {kind}.")
    if data[:4] == XLSX_MAGIC:
        table = _read_xlsx(data)
        if not any(table):
            raise ValidationError("The XLSX file is empty.")
        source = _recognise(_table_rows(table), kind, mapping, "xlsx", table=table)
        source.xlsx.data = data
        return source
    text, encoding = decode(data)
    if _looks_binary(text):
        raise ValidationError("The file looks binary (control characters), not CSV.")
    return _recognise(_text_rows(text), kind, mapping, encoding, text=text)


def _recognise(rows, kind, mapping, encoding, *, text="", table=None) -> Source:
    if mapping:
        return _recognise_mapped(rows, kind, mapping, encoding, text=text, table=table)
    found = _find_layout(rows, _layouts())
    if found is None:
        raise _no_match(rows, kind)
    row, match = found
    if kind not in ("auto", match.layout.kind):
        raise ValidationError(f"The file's header is a {match.layout.kind} export, not {kind}.")
    return _source(
        row, match.start, match.glue, encoding, text, table,
        kind=match.layout.kind, columns=list(match.layout.columns), positions=match.positions,
    )  # fmt: skip


def _recognise_mapped(rows, kind, mapping, encoding, *, text, table) -> Source:
    if kind == "auto":
        raise ValidationError("Choose the kind of data when you map columns.")
    mapping = canonical_mapping(kind, mapping)
    wanted = {field: column_key(col) for field, col in mapping.items() if col}
    row, index, glue = _find_mapped(rows, set(wanted.values()))
    if row is None or not set(wanted.values()) <= index.keys():
        missing = [mapping[f] for f, key in wanted.items() if key not in index]
        raise ValidationError(f"Mapped columns not in the file: {', '.join(missing)}")
    if row.wide:
        raise ValidationError(f"The header has more than {MAX_COLUMNS} columns.")
    positions = [index[wanted[f]] if f in wanted else None for f in mapping]
    source = _source(
        row, 0, glue, encoding, text, table,
        kind=kind, columns=list(mapping), positions=positions,
    )  # fmt: skip
    source.mapping = mapping
    return source


def _source(row, start, glue, encoding, text, table, **layout) -> Source:
    """The Source reading from the header ``row`` on; whatever precedes the header is dropped."""
    header = [_clean(c) for c in row.cells[start:]]
    header[0] = _clean(row.cells[start][glue:])
    common = dict(encoding=encoding, width=len(header), slack=row.slack, header=header, **layout)
    if table is not None:
        body = XlsxBody(data=b"", skip=row.at + 1, start=start)  # parse_bytes gives the data
        return Source(delimiter=",", text="", xlsx=body, **common)
    offset = row.at + sum(len(c) + 1 for c in row.cells[:start]) + glue
    body = _php_unescape(text[offset:], row.delimiter)
    return Source(delimiter=row.delimiter, text=body, **common)
