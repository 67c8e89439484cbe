"""The header names of a sample file, for the column-mapping page's pickers.

The house rule is that uploads are parsed in the worker, never in the web request: a whole file
can be 100k rows and a hostile one a zip bomb. This is the one bounded exception, and only for
a *sample* the person chose to show its header:

- at most ``SAMPLE_BYTES`` (64 KiB) of a CSV are read — the header's line and nothing past it
  is used; the rest of the file is never read, whatever its size;
- an XLSX is refused above ``SAMPLE_XLSX_BYTES`` (the header needs the archive, not a slice),
  checked by ``formats.xlsx_check`` (declared sizes: no zip bomb) and only its first non-empty
  row is read, through openpyxl's streaming mode;
- at most ``formats.MAX_COLUMNS`` names of at most ``MAX_NAME`` characters come back.

Nothing is stored: the names only become the choices of the form.
"""

import csv
import io
import itertools

from django.core.exceptions import ValidationError

from . import formats

SAMPLE_BYTES = 64 * 1024
SAMPLE_XLSX_BYTES = 5 * 1024 * 1024
MAX_NAME = 200


def _names(cells) -> list[str]:
    names, seen = [], set()
    for cell in cells:
        name = formats.cell_text(cell).strip().strip("\ufeff").strip()
        if not name or len(name) > MAX_NAME or name in seen:
            continue  # a glued notice or a blank column is no header name to pick
        seen.add(name)
        names.append(name)
        if len(names) >= formats.MAX_COLUMNS:
            break
    return names


def _csv_headers(head: bytes) -> list[str]:
    if b"\x00" in head:
        raise ValidationError("The sample contains NUL bytes: it is not a CSV file.")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the byte cap is not an encoding problem
        text = head[: exc.start].decode("utf-8-sig") if exc.start > len(head) - 4 else ""
        if not text:
            text = head.decode("cp1252", errors="replace")
    for line in text.splitlines()[:50]:
        if not line.strip():
            continue
        delimiter = max(formats.DELIMITERS, key=line.count)
        cells = next(csv.reader([line], delimiter=delimiter), [])
        names = _names(cells)
        if len(names) >= 2:
            return names
    raise ValidationError("No header line (two or more column names) in the sample's beginning.")


def _xlsx_headers(data: bytes) -> list[str]:
    rows = formats._xlsx_rows(data)  # checks the archive before openpyxl unpacks anything
    try:
        for cells in itertools.islice(rows, 50):
            names = _names(cells)
            if len(names) >= 2:
                return names
    finally:
        rows.close()
    raise ValidationError("No header row (two or more column names) in the sample's first rows.")


def read_headers(fileobj) -> list[str]:
    """The header names of a sample (an uploaded file or a stored one), read in bounded work."""
    head = fileobj.read(SAMPLE_BYTES)
    if not head.strip():
        raise ValidationError("The sample is empty.")
    if head[:4] == formats.XLSX_MAGIC:
        rest = fileobj.read(SAMPLE_XLSX_BYTES - len(head) + 1)
        data = head + rest
        if len(data) > SAMPLE_XLSX_BYTES:
            raise ValidationError(
                f"An XLSX sample is read whole: keep it under {SAMPLE_XLSX_BYTES // 1_048_576} MB "
                "(a few rows are enough), or save the header as CSV."
            )
        return _xlsx_headers(data)
    return _csv_headers(head)


def read_headers_bytes(data: bytes) -> list[str]:
    return read_headers(io.BytesIO(data))
