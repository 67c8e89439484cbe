"""Reading environment listings as the tools write them. Pure functions, no database.

``read(text)`` recognises the shape (see :data:`SHAPES`), reads it with the reader for that
family and returns a :class:`Reading`: the entries (key, value, line), the shape it was read as,
the tool bookkeeping it skipped and warnings naming lines where a value may not be what the
writer meant. Bad input raises :class:`ParseError` naming the line; neither errors nor warnings
ever carry a value.

One module per family: ``dotenv`` (.env, vercel env pull, Doppler env, Infisical dotenv),
``raw`` (convex env list, Doppler env-no-quotes), ``jsonshapes`` (flat objects, Vercel API,
Render, Infisical JSON), ``compose``, ``markdown``; ``detect`` names the shape and
``bookkeeping`` knows the tools' own variables.
"""

import re

from .base import (
    KEY_RE,
    MAX_BYTES,
    Declaration,
    Entry,
    ParseError,
    Reading,
    decode,
    looks_like_credential,
    normalise_newlines,
)
from .bookkeeping import bookkeeping_reason
from .compose import read_compose
from .detect import JSON_SHAPES, SHAPES, detect
from .dotenv import read_dotenv, read_infisical_env, read_vercel_pull
from .jsonshapes import read_json
from .markdown import parse_markdown_table
from .raw import note_raw_differences, read_raw_listing

__all__ = [
    "FORMATS",
    "KEY_RE",
    "MAX_BYTES",
    "SHAPES",
    "Declaration",
    "Entry",
    "ParseError",
    "Reading",
    "bookkeeping_reason",
    "decode",
    "detect_format",
    "looks_like_credential",
    "parse",
    "read",
]

# What --format / the import form accept: "auto", the shape codes, and "json" for any JSON shape.
FORMATS = ("auto", *SHAPES)


def detect_format(text: str, filename: str = "") -> str:
    """The shape ``read`` would name for ``text`` (without reading JSON, YAML or tables twice)."""
    return read(text, "auto", filename, keep_tool_vars=True).shape


def read(
    text: str,
    fmt: str = "auto",
    filename: str = "",
    *,
    keep_tool_vars: bool = False,
    target: str | None = None,
) -> Reading:
    """Read ``text`` as ``fmt`` (``auto``: recognise it). ``target`` is the Vercel target
    (production / preview / development) an API listing with several targets is read for."""
    if fmt not in FORMATS:
        raise ParseError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if "\x00" in text:
        raise ParseError(
            "the text contains binary data (a NUL byte)", text[: text.index("\x00")].count("\n") + 1
        )
    text = normalise_newlines(text.removeprefix("\ufeff"))
    try:
        return _read(text, fmt, filename, keep_tool_vars=keep_tool_vars, target=target)
    except RecursionError:
        # JSON or YAML nested thousands deep ([[[[...): no listing of variables looks like that
        raise ParseError(
            "the text is nested too deeply to be a list of variables (JSON or YAML inside "
            "thousands of brackets)",
            1,
        ) from None


def _read(text: str, fmt: str, filename: str, *, keep_tool_vars: bool, target) -> Reading:
    shape = detect(text, filename) if fmt == "auto" else fmt
    if shape == "markdown":
        reading = Reading("markdown", entries=parse_markdown_table(text))
    elif shape in JSON_SHAPES:
        reading = read_json(text, shape, target=target)
    elif shape == "compose":
        reading = read_compose(text)
    elif shape == "vercel":
        reading = read_vercel_pull(text)
    elif shape == "infisical-env":
        reading = read_infisical_env(text)
    elif shape in ("convex", "doppler-raw"):
        reading = _raw_or_dotenv(text, shape) if fmt == "auto" else read_raw_listing(text, shape)
    elif shape == "dotenv" and fmt == "auto":
        try:
            reading = read_dotenv(text, Reading(shape))
        except ParseError as exc:
            raise _listing_hint(exc, text) from None
    else:  # dotenv, doppler-env
        reading = read_dotenv(text, Reading(shape))
    if not keep_tool_vars and shape != "markdown":
        kept = []
        for entry in reading.entries:
            reason = bookkeeping_reason(entry.key)
            if reason:
                reading.skip(entry.line, entry.key, f"tool bookkeeping: {reason}")
            else:
                kept.append(entry)
        reading.entries = kept
    reading.skipped.sort(key=lambda s: s["line"])
    reading.warnings.sort(key=lambda w: w["line"])
    return reading


_RAW_START = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_MISTYPED = re.compile(r"^\s*(?:export\s+)?[A-Za-z0-9_.-]{1,64}\s*=\s*[^=\s]")


def _raw_or_dotenv(text: str, shape: str) -> Reading:
    """A bare ``NAME=value`` listing: a raw one (convex, Doppler env-no-quotes) or a ``.env``?

    Where both readings agree it does not matter. Where they differ, values wrapped in quotes
    or blank lines between variables say ``.env``; a value a ``.env`` reading would cut
    (`` #``, trailing spaces, a quote it cannot close, a continuation line) says raw listing.
    """
    raw = read_raw_listing(text, shape)
    try:
        dotenv = read_dotenv(text)
    except ParseError as exc:
        # A quote opening a value, or a line that looks like a mistyped assignment
        # (``MY-KEY=2``), is a .env mistake to report, not a raw value.
        if any(e.value[:1] in ("'", '"') for e in raw.entries) or any(
            _MISTYPED.match(line) and not _RAW_START.match(line) for line in text.split("\n")
        ):
            raise _listing_hint(exc, text) from None
        note_raw_differences(raw, None)
        return raw
    values = {e.key: e.value for e in dotenv.entries}
    raw_votes = dotenv_votes = 0
    for entry in raw.entries:
        theirs = values.get(entry.key)
        if theirs == entry.value:
            continue
        mine = entry.value.rstrip()
        # A value opening with a quote is quoted .env syntax, closed at its end or before a
        # `` #`` comment (when a .env reading cannot close it, the text is refused above).
        quoted = mine[:1] in ("'", '"')
        if theirs is not None and (entry.value.rstrip("\n") == theirs or quoted):
            dotenv_votes += 1
        else:
            raw_votes += 1
    if raw_votes and not dotenv_votes:
        note_raw_differences(raw, values)
        return raw
    if dotenv.shape != "dotenv" or shape == "doppler-raw":
        dotenv.shape = "doppler-env" if shape == "doppler-raw" else "dotenv"
    return dotenv


def _listing_hint(exc: ParseError, text: str) -> ParseError:
    """A ``.env`` error on a text a raw listing would read: say how to read it as one.

    ``npx convex env list`` prints multi-line values raw, so a continuation line may start with
    ``#`` or ``export`` (which no bare listing has, so it was taken for a ``.env``) or a value
    may open a quote it never closes. Such a text stays refused without being told, since a
    ``.env`` with a stray line must not turn into a value, but the error names the way out.
    """
    if not ("has no '='" in exc.message or "unterminated" in exc.message):
        return exc
    if not _RAW_START.match(text):
        return exc
    try:
        read_raw_listing(text)
    except ParseError:
        return exc
    return ParseError(
        f"{exc.message}; if this is what `npx convex env list` printed (values are printed "
        "raw, over several lines), import it with format convex",
        exc.line,
    )


def parse(text: str, fmt: str = "auto", filename: str = "") -> list:
    """Entries (values) for env shapes, declarations for a Markdown table; tool bookkeeping
    left out. Kept for callers that only need the entries."""
    return read(text, fmt, filename).entries


# The readers by their historical names (environments.parsers).
def parse_dotenv(text: str) -> list[Entry]:
    return read_dotenv(normalise_newlines(text)).entries


def parse_convex(text: str) -> list[Entry]:
    return read_raw_listing(normalise_newlines(text)).entries


def parse_vercel(text: str) -> list[Entry]:
    return read(text, "vercel").entries


def parse_json(text: str) -> list[Entry]:
    return read(text, "json").entries
