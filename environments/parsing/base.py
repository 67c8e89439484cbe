"""What every reader shares: entries, errors naming the line, warnings, key checks, decoding.

Nothing here touches the database. Values pass through memory only; callers turn them into
fingerprints before anything is stored. Errors and warnings never carry a value.
"""

import re
from dataclasses import dataclass, field

from opsportal.audit.masking import scrub_text

MAX_BYTES = 1024 * 1024
KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


@dataclass(frozen=True)
class Declaration:
    """A row of a Markdown inventory table: a variable's metadata, never its value."""

    key: str
    line: int
    required: bool | None = None
    example: str = ""
    description: str = ""


@dataclass
class Reading:
    """What a reader made of a text: the shape it was read as, its entries, and what it left out.

    ``skipped`` and ``warnings`` are lists of plain dicts (``key``, ``line``, ``reason`` /
    ``message``) that name lines and keys, never values: they are shown in the preview.
    """

    shape: str
    entries: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    @property
    def label(self) -> str:
        from .detect import SHAPES

        return SHAPES.get(self.shape, self.shape)

    def warn(self, line: int, key: str, message: str) -> None:
        self.warnings.append({"line": line, "key": key, "message": message})

    def skip(self, line: int, key: str, reason: str) -> None:
        self.skipped.append({"line": line, "key": key, "reason": reason})


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


def check_key(key: str, line: int) -> None:
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


def check_duplicates(entries: list) -> list:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.key in seen:
            raise ParseError(
                f"duplicate variable {entry.key} (first defined on line {seen[entry.key]})",
                entry.line,
            )
        seen[entry.key] = entry.line
    return entries


def line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, max(offset, 0)) + 1


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
