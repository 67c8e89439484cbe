"""Listings that print values raw, one ``NAME=value`` per variable: ``npx convex env list``
(the CLI prints ``${name}=${value}`` for each variable, nothing quoted or escaped) and
Doppler's ``env-no-quotes`` / ``docker`` downloads.

A value is everything after the first ``=``: spaces, quotes and `` #`` included. A line that
does not start a new ``NAME=`` continues the value before it (a multi-line value, blank lines
included; inside a multi-line value, a base64 line ending in padding, ``abc==``, is no new
name); the listing's final newline ends the last value.
"""

import re

from .base import Entry, ParseError, Reading, check_duplicates, check_key

_START = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")


def read_raw_listing(text: str, shape: str = "convex") -> Reading:
    reading = Reading(shape)
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()  # the newline printed after the last value
    entries: list[list] = []
    for lineno, raw in enumerate(lines, start=1):
        m = _START.match(raw)
        if m and entries and m["value"] and not m["value"].strip("="):
            current = entries[-1][1]
            if "\n" in current or current.startswith("-----BEGIN"):
                m = None  # base64 padding ending a line of a multi-line value (``…Body06==``)
        if m:
            check_key(m["key"], lineno)
            entries.append([m["key"], m["value"], lineno])
        elif entries:
            entries[-1][1] += "\n" + raw
        elif raw.strip():
            raise ParseError("expected NAME=value before any continuation line", lineno)
    out = []
    for key, value, lineno in entries:
        if value.endswith("\n"):
            reading.warn(
                lineno,
                key,
                f"the value of {key} ends with empty lines (the lines before the next "
                "variable); they are kept, as the listing prints values raw",
            )
        out.append(Entry(key, value, lineno))
    reading.entries = check_duplicates(out)
    return reading


def note_raw_differences(reading: Reading, dotenv_values: dict | None) -> None:
    """A listing recognised as raw: say where a ``.env`` reading would have differed.

    ``dotenv_values`` is what a ``.env`` reading gave (None when it could not read the text).
    """
    for entry in reading.entries:
        value = entry.value
        if "\n" in value:
            continue
        if dotenv_values is not None and dotenv_values.get(entry.key) == value:
            continue
        if re.search(r"(^|[ \t])#", value):
            what = "' #' and the text after it are kept as part of the value"
        elif value != value.strip(" \t"):
            what = "its leading or trailing spaces are kept"
        elif value[:1] in ("'", '"', "`"):
            what = "its quotes are kept as part of the value"
        elif dotenv_values is None:
            continue
        else:
            what = "it is kept exactly as printed"
        reading.warn(
            entry.line,
            entry.key,
            f"the value of {entry.key} is read raw, as `{reading.label}` prints it: {what}; "
            "if this is a .env file, import it with format dotenv",
        )
