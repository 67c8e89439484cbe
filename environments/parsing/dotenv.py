"""`.env` files and the dotenv dialects tools write: ``vercel env pull``, Doppler's and
Infisical's downloads.

The generic reader is python-dotenv's own parser (``dotenv.parser``): quotes, escapes,
``export``, inline comments, multi-line quoted values. It is wrapped for line numbers, clear
errors and the one thing it refuses that Node's dotenv (Next.js, dotenvx) reads: a quoted
value with unescaped quotes inside (``KEY="{"type":"service_account"}"``,
``SITE_TAGLINE='It's live'``), which is read from the first to the last quote of its line.

Where a dotenv rule changes what a value would be (an inline ``#`` comment, trailing spaces,
a ``#`` that Node's dotenv would cut at) the reading warns on that line, naming the key only.

The tools' own files are read as their writer wrote them:
- ``vercel env pull``: ``KEY="value"``, newlines written as ``\\n`` / ``\\r``, nothing else
  escaped (inner quotes and backslashes are left as they are).
- Infisical ``export`` (dotenv / dotenv-export): ``KEY='value'``, nothing escaped, a
  multi-line value spread over lines.
- Doppler ``secrets download --format env``: ``KEY="value"`` with ``\\`` and ``"`` escaped,
  which is dotenv's own double-quoted syntax.
"""

import io
import re

from dotenv import parser as dp

from .base import Entry, ParseError, Reading, check_duplicates, check_key

_LINE_ASSIGN = re.compile(
    r"^[ \t]*(?:export[ \t]+)?(?P<key>[^=\s#'][^=\s]*|'[^']+')[ \t]*=[ \t]*(?P<rest>.*)$"
)
_QUOTES = ("'", '"')


class _Reader(dp.Reader):
    """python-dotenv's reader, counting lines with ``str.count`` (the text's newlines are
    ``\n`` only by then): the library's own count runs a regex per token."""

    def read_regex(self, regex):
        match = regex.match(self.string, self.position.chars)
        if match is None:
            raise dp.Error("read_regex: Pattern not found")
        self.position.line += self.string.count("\n", match.start(), match.end())
        self.position.chars = match.end()
        return match.groups()


def _node_unescape(body: str) -> str:
    """What Node's dotenv does to a double-quoted value: ``\\n`` and ``\\r`` only."""
    return body.replace("\\n", "\n").replace("\\r", "\r")


def _closing_quote(text: str, start: int, quote: str) -> int:
    """Index of the quote closing a value that opened before ``start`` (-1 when none).

    A backslash escapes the next character, as in python-dotenv's quoted values.
    """
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == quote:
            return i
        i += 1
    return -1


def _warn_unquoted(reading: Reading, key: str, raw: str, value: str, line: int) -> None:
    """Warn when dotenv's rules for unquoted values made ``value`` differ from ``raw``."""
    body = raw.rstrip("\n")
    if value != body.rstrip(" \t") and "#" in body:
        if value == "":
            reading.warn(
                line,
                key,
                f"the value of {key} is empty: the text after '#' is read as a comment; "
                "quote the value if the '#' belongs to it",
            )
        else:
            reading.warn(
                line,
                key,
                f"the text after ' #' in the value of {key} is read as a comment and dropped; "
                "quote the value if the '#' belongs to it",
            )
    elif "#" in body:
        reading.warn(
            line,
            key,
            f"the value of {key} contains '#' with no space before it: kept whole here "
            "(python-dotenv), but Node's dotenv (Next.js) cuts the value there; quote it",
        )
    elif body != body.rstrip(" \t"):
        reading.warn(
            line,
            key,
            f"trailing whitespace after the value of {key} is dropped; quote the value to keep it",
        )


def read_dotenv(text: str, reading: Reading | None = None) -> Reading:
    """A ``.env`` file read with python-dotenv's parser (see the module docstring)."""
    reading = reading or Reading("dotenv")
    reader = _Reader(io.StringIO(text))
    entries: list[Entry] = []
    while reader.has_next():
        start = reader.position.chars
        binding = dp.parse_binding(reader)
        original = binding.original.string
        lead = len(original) - len(original.lstrip())
        lineno = binding.original.line + original[:lead].count("\n")
        if binding.error:
            entry, end = _read_refused_line(text, start + lead, lineno, reading)
            entries.append(entry)
            reader.position.chars = end
            reader.position.line = lineno + 1
            continue
        if binding.key is None:
            continue  # blank lines, comments
        check_key(binding.key, lineno)
        if binding.value is None:
            raise ParseError("expected KEY=value (this line has no '=')", lineno)
        m = _LINE_ASSIGN.match(original[lead:].split("\n", 1)[0])
        rest = m["rest"] if m else ""
        if rest[:1] not in _QUOTES:
            _warn_unquoted(reading, binding.key, rest, binding.value, lineno)
        entries.append(Entry(binding.key, binding.value, lineno))
    reading.entries = check_duplicates(entries)
    return reading


def _read_refused_line(text: str, pos: int, lineno: int, reading: Reading):
    """A line python-dotenv refused: read it as Node's dotenv does, or say what is wrong.

    Returns the entry and the offset where reading resumes (the start of the next line).
    """
    eol = text.find("\n", pos)
    eol = len(text) if eol < 0 else eol
    line = text[pos:eol]
    m = _LINE_ASSIGN.match(line)
    if not m:
        if "=" in line:
            # Never echo the line: check_key masks credential shapes and names the problem.
            check_key(re.sub(r"^\s*export\s+", "", line.split("=", 1)[0]).strip(), lineno)
        raise ParseError("expected KEY=value (this line has no '=')", lineno)
    key = m["key"].strip("'")
    check_key(key, lineno)
    rest = m["rest"]
    quote = rest[:1]
    if quote not in _QUOTES:
        raise ParseError(f"the value of {key} could not be read", lineno)
    body = rest.rstrip(" \t")
    if len(body) >= 2 and body.endswith(quote):
        # Node's dotenv (Next.js, dotenvx) takes what lies between the first and last quote.
        inner = body[1:-1]
        value = _node_unescape(inner) if quote == '"' else inner
        reading.warn(
            lineno,
            key,
            f"the value of {key} has unescaped {quote} quotes inside; read from the first "
            "to the last quote of the line, as Node's dotenv (Next.js) reads it",
        )
        return Entry(key, value, lineno), min(eol + 1, len(text))
    commented = re.match(rf"^{quote}(?P<inner>.*){quote}[ \t]+#.*$", body)
    if commented:
        # ``KEY='It's live' # tagline``: Node's dotenv drops the comment, then the outer quotes.
        inner = commented["inner"]
        value = _node_unescape(inner) if quote == '"' else inner
        also = (
            "; Node's dotenv (Next.js) would cut it at its first '#': quote it without inner quotes"
            if "#" in inner
            else ""
        )
        reading.warn(
            lineno,
            key,
            f"the value of {key} has unescaped {quote} quotes inside and a comment after it; "
            f"read from its first quote to the last one before ' #', the comment dropped{also}",
        )
        return Entry(key, value, lineno), min(eol + 1, len(text))
    opened = pos + m.start("rest")
    close = _closing_quote(text, opened + 1, quote)
    if close < 0:
        raise ParseError(
            f"unterminated {quote} quote in the value of {key} (opened on line {lineno})", lineno
        )
    raise ParseError(f"unexpected text after the quoted value of {key}", lineno)


# --- vercel env pull -----------------------------------------------------------------------------
VERCEL_HEADER = "# Created by Vercel CLI"
_VERCEL_LINE = re.compile(r'^(?P<key>[A-Za-z_][A-Za-z0-9_]*)="(?P<body>.*)"[ \t]*$')


def read_vercel_pull(text: str) -> Reading:
    """``vercel env pull``: every line ``KEY="value"`` as the CLI writes it.

    Lines edited by hand into the file (other shapes than the CLI writes) are read as ``.env``
    lines, with the ``.env`` warnings.
    """
    reading = Reading("vercel")
    entries = []
    other: list[tuple[int, str]] = []  # a run of lines the CLI did not write

    def flush():
        if other:
            first = other[0][0]
            part = read_dotenv("\n".join(line for _, line in other) + "\n", Reading("vercel"))
            for e in part.entries:
                entries.append(Entry(e.key, e.value, e.line + first - 1))
            for w in part.warnings:
                reading.warn(w["line"] + first - 1, w["key"], w["message"])
            other.clear()

    for lineno, line in enumerate(text.split("\n"), start=1):
        m = _VERCEL_LINE.match(line)
        if m is None or (other and other[-1][0] == lineno - 1 and _open_quote(other)):
            other.append((lineno, line))
            continue
        flush()
        check_key(m["key"], lineno)
        entries.append(Entry(m["key"], _node_unescape(m["body"]), lineno))
    flush()
    reading.entries = check_duplicates(entries)
    return reading


def _open_quote(lines: list[tuple[int, str]]) -> bool:
    """Whether a run of ``.env`` lines ends inside a quoted value (it continues on)."""
    try:
        read_dotenv("\n".join(line for _, line in lines) + "\n")
    except ParseError as exc:
        return "unterminated" in exc.message
    return False


# --- Infisical export (dotenv, dotenv-export) ----------------------------------------------------
_INFISICAL_START = re.compile(r"^(?:export )?(?P<key>[A-Za-z_][A-Za-z0-9_]*)='", re.M)


def read_infisical_env(text: str) -> Reading:
    """``infisical export`` (formats dotenv / dotenv-export): ``KEY='value'`` lines.

    Infisical escapes nothing: a value runs from ``='`` to the last quote before the next
    ``KEY='`` line, across lines when the value has several.
    """
    reading = Reading("infisical-env")
    body = text[:-1] if text.endswith("\n") else text
    starts = list(_INFISICAL_START.finditer(body))
    if not starts or body[: starts[0].start()].strip():
        raise ParseError("expected KEY='value' lines (Infisical export)", 1)
    entries = []
    for n, m in enumerate(starts):
        end = starts[n + 1].start() - 1 if n + 1 < len(starts) else len(body)
        chunk = body[m.end() : end]
        lineno = line_no(body, m.start())
        check_key(m["key"], lineno)
        if not chunk.endswith("'"):
            raise ParseError(
                f"unterminated ' quote in the value of {m['key']} (opened on line {lineno})",
                lineno,
            )
        entries.append(Entry(m["key"], chunk[:-1], lineno))
    reading.entries = check_duplicates(entries)
    return reading


def line_no(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def looks_like_infisical(text: str) -> bool:
    """Every line starts a ``KEY='`` entry or continues one, and every entry closes."""
    try:
        read_infisical_env(text)
    except ParseError:
        return False
    return True
