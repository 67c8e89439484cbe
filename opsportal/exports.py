"""Helpers shared by every export: formula escaping and streamed CSV."""

import csv
from collections.abc import Iterable, Iterator

# A spreadsheet treats a cell starting with one of these as a formula (or strips it and then does).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(value):
    """Prefix a dangerous leading character with ``'`` so spreadsheets show text, not a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def escape_row(row: Iterable) -> list:
    return [escape_formula("" if v is None else v) for v in row]


class _Echo:
    def write(self, value: str) -> str:
        return value


def stream_csv(rows: Iterable[Iterable]) -> Iterator[str]:
    """Yield CSV lines one by one (for ``StreamingHttpResponse``), every cell escaped."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(escape_row(row))
