"""Helpers shared by every export: formula escaping, single-line text and streamed CSV."""

import csv
import re
from collections.abc import Iterable, Iterator

# A spreadsheet treats a cell starting with one of these as a formula (or strips it and then does).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


# Everything str.splitlines() breaks a line on, and the other control characters: in a
# line-oriented export (.env.example, Markdown) a description must stay on its own line.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


def single_line(value, *, strip: bool = True) -> str:
    """``value`` as one line of text: every line break or control character becomes a space."""
    text = _LINE_BREAKING.sub(" ", str(value if value is not None else ""))
    return text.strip() if strip else text


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
