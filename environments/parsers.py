"""Pure parsers for environment-variable listings: ``.env``, ``npx convex env list``,
``vercel env pull`` and JSON objects.

Every parser returns a list of :class:`Entry` (key, value, line) in file order and raises
:class:`ParseError` naming the line on bad input. Nothing here touches the database. Values pass
through memory only; callers turn them into fingerprints before anything is stored.
"""

import json
import re
from dataclasses import dataclass

from opsportal.audit.masking import scrub_text

MAX_BYTES = 1024 * 1024
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ASSIGN = re.compile(r"^\s*(?:export\s+)?(?P<key>[^=\s#][^=]*?)\s*=(?P<rest>.*)$")
_CONVEX_LINE = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)=(?P<value>.*)$")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}
# Variables `vercel env pull` adds on its own; they describe the deployment, not the app.
VERCEL_SYSTEM = re.compile(r"^(VERCEL|VERCEL_[A-Z0-9_]+|TURBO_[A-Z0-9_]+|NX_DAEMON)$")

FORMATS = ("auto", "dotenv", "convex", "vercel", "json", "markdown")


class ParseError(ValueError):
    """Bad input; ``line`` is 1-based (0 when the problem is the whole file)."""

    def __init__(self, message: str, line: int = 0):
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


@dataclass(frozen=True)
class Entry:
    key: str
    value: str
    line: int


def decode(data: bytes, *, max_bytes: int = MAX_BYTES) -> str:
    """Bytes of an upload to text, refusing what is not a UTF-8 text file."""
    if len(data) > max_bytes:
        raise ParseError(
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} bytes "
            f"({max_bytes // 1024} KB). Import environment files, not archives or dumps."
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError("the file is UTF-16 encoded; save it as UTF-8 and import it again", 1)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise ParseError("the file contains binary data (a NUL byte); expected a text file", line)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ParseError("the file is not valid UTF-8 text", line) from None


def looks_like_credential(text: str) -> bool:
    return scrub_text(text) != text


def _check_key(key: str, line: int) -> None:
    if looks_like_credential(key):
        raise ParseError(
            "this variable name looks like a credential (a pasted key?); it is not shown", line
        )
    if not KEY_RE.match(key):
        # A name is not a secret, but a mangled line may carry one: mask credential shapes.
        shown = scrub_text(key[:40])
        raise ParseError(
            f"invalid variable name {shown!r}: use letters, digits and underscores, "
            "not starting with a digit",
            line,
        )


def _check_duplicates(entries: list[Entry]) -> list[Entry]:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.key in seen:
            raise ParseError(
                f"duplicate variable {entry.key} (first defined on line {seen[entry.key]})",
                entry.line,
            )
        seen[entry.key] = entry.line
    return entries


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def _find_closing(text: str, quote: str) -> int:
    """Index of the closing quote in ``text``, honouring backslash escapes in double quotes."""
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quote == '"':
            i += 2
            continue
        if c == quote:
            return i
        i += 1
    return -1


def parse_dotenv(text: str) -> list[Entry]:
    """``KEY=value`` lines: comments, ``export``, quotes, escapes, multi-line quoted values."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    entries: list[Entry] = []
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _ASSIGN.match(raw)
        if not m:
            # Never echo the line: it may be a pasted secret.
            raise ParseError("expected KEY=value (this line has no '=')", lineno)
        key = m["key"].strip()
        _check_key(key, lineno)
        rest = m["rest"].lstrip()
        if rest[:1] in ('"', "'", "`"):
            quote = rest[0]
            body = rest[1:]
            end = _find_closing(body, quote)
            collected = [body]
            while end < 0:
                if i >= len(lines):
                    raise ParseError(
                        f"unterminated {quote} quote in the value of {key} "
                        f"(opened on line {lineno})",
                        lineno,
                    )
                collected.append(lines[i])
                i += 1
                end = _find_closing("\n".join(collected), quote)
            joined = "\n".join(collected)
            value, after = joined[:end], joined[end + 1 :].strip()
            if after and not after.startswith("#"):
                raise ParseError(f"unexpected text after the quoted value of {key}", lineno)
            if quote == '"':
                value = _unescape(value)
        else:
            # Unquoted: an inline comment starts at " #".
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
        entries.append(Entry(key, value, lineno))
    return _check_duplicates(entries)


def parse_convex(text: str) -> list[Entry]:
    """``npx convex env list``: ``NAME=value`` lines printed raw; other lines continue a value."""
    entries: list[Entry] = []
    current: list | None = None
    for lineno, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        m = _CONVEX_LINE.match(raw)
        if m:
            if current:
                entries.append(Entry(*current))
            current = [m["key"], m["value"], lineno]
        elif current is not None and raw != "":
            current[1] += "\n" + raw
        elif raw.strip():
            raise ParseError("expected NAME=value before any continuation line", lineno)
    if current:
        entries.append(Entry(*current))
    return _check_duplicates(entries)


def parse_vercel(text: str) -> list[Entry]:
    """A ``vercel env pull`` file: dotenv syntax minus Vercel's own system variables."""
    return [e for e in parse_dotenv(text) if not VERCEL_SYSTEM.match(e.key)]


class _Pairs(list):
    """A JSON object kept as its (key, value) pairs, so duplicate keys can be reported."""


def parse_json(text: str) -> list[Entry]:
    """A flat JSON object of names to strings (numbers and booleans are written as text)."""

    try:
        pairs = json.loads(text, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    if not isinstance(pairs, _Pairs):
        raise ParseError("expected a JSON object of NAME: value pairs", 1)
    # Line numbers: find each key's first occurrence in order.
    entries = []
    pos = 0
    for key, value in pairs:
        found = text.find(json.dumps(key), pos)
        lineno = text.count("\n", 0, found) + 1 if found >= 0 else 1
        pos = found + 1 if found >= 0 else pos
        _check_key(str(key), lineno)
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif value is None:
            value = ""
        elif not isinstance(value, str):
            raise ParseError(f"the value of {key} must be a string, not a nested object", lineno)
        entries.append(Entry(key, value, lineno))
    return _check_duplicates(entries)


@dataclass(frozen=True)
class Declaration:
    """A row of a Markdown inventory table: a variable's metadata, never its value."""

    key: str
    line: int
    required: bool | None = None
    example: str = ""
    description: str = ""


_YES = {"yes", "y", "true", "required", "x", "✓", "✔", "✅", "must"}
_NO = {"no", "n", "false", "optional", "-", "", "—", "❌"}
_KEY_HEADERS = {"variable", "name", "key", "env var", "environment variable", "var"}
_CELL_CODE = re.compile(r"^`([^`]*)`$")


def _cells(line: str) -> list[str]:
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body)]


def parse_markdown_table(text: str) -> list[Declaration]:
    """Rows of the first Markdown table whose header has a Variable (or Name / Key) column.

    Understood columns: Variable, Required, Example, Description (or Notes / Purpose).
    """
    lines = text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines[:-1]):
        if "|" not in line or not re.match(r"^\s*\|?\s*:?-{3,}", lines[i + 1]):
            continue
        header = [c.lower().strip("* ") for c in _cells(line)]
        key_col = next((n for n, h in enumerate(header) if h in _KEY_HEADERS), None)
        if key_col is None:
            continue

        def col(*names, header=header):
            return next((n for n, h in enumerate(header) if h in names), None)

        req_col = col("required", "required?", "mandatory")
        ex_col = col("example", "example value", "examples", "default")
        desc_col = col("description", "notes", "purpose", "what", "comment")
        out = []
        for lineno in range(i + 3, len(lines) + 1):
            row = lines[lineno - 1]
            if "|" not in row:
                break
            cells = _cells(row)

            def cell(n, cells=cells):
                return cells[n].strip() if n is not None and n < len(cells) else ""

            key = cell(key_col)
            if m := _CELL_CODE.match(key):
                key = m.group(1)
            key = key.strip()
            if not key:
                continue
            _check_key(key, lineno)
            flag = cell(req_col).lower().strip("*` ")
            if req_col is None:
                required = None
            elif flag in _YES:
                required = True
            elif flag in _NO:
                required = False
            else:
                raise ParseError(
                    f"the Required column of {key} says {flag[:20]!r}; use yes or no", lineno
                )
            example = cell(ex_col)
            if m := _CELL_CODE.match(example):
                example = m.group(1)
            if looks_like_credential(example):
                raise ParseError(
                    f"the example of {key} looks like a real credential; use a placeholder", lineno
                )
            out.append(Declaration(key, lineno, required, example[:300], cell(desc_col)[:300]))
        if not out:
            raise ParseError("the table has no rows", i + 1)
        seen: dict[str, int] = {}
        for d in out:
            if d.key in seen:
                raise ParseError(
                    f"duplicate variable {d.key} (first listed on line {seen[d.key]})", d.line
                )
            seen[d.key] = d.line
        return out
    raise ParseError("no Markdown table with a Variable (or Name / Key) column found")


def detect_format(text: str, filename: str = "") -> str:
    stripped = text.lstrip()
    if filename.endswith(".md") or re.search(r"^\s*\|.*\|\s*$\n^\s*\|?\s*:?-{3,}", text, re.M):
        return "markdown"
    if filename.endswith(".json") or stripped.startswith("{"):
        return "json"
    if "Created by Vercel CLI" in text[:300]:
        return "vercel"
    return "dotenv"


PARSERS = {
    "dotenv": parse_dotenv,
    "convex": parse_convex,
    "vercel": parse_vercel,
    "json": parse_json,
    "markdown": parse_markdown_table,
}


def parse(text: str, fmt: str = "auto", filename: str = "") -> list[Entry] | list[Declaration]:
    """Entries (values) for env formats; declarations (metadata only) for a Markdown table."""
    if fmt not in FORMATS:
        raise ParseError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(text, filename)
    if "\x00" in text:
        raise ParseError(
            "the text contains binary data (a NUL byte)", text[: text.index("\x00")].count("\n") + 1
        )
    return PARSERS[fmt](text)
