"""The team's Markdown inventory tables ("Variable | Required | Example | Description").

Each row declares a variable (required flag, example, description) without a value.
"""

import re

from .base import Declaration, ParseError, check_key, looks_like_credential

TABLE_RE = re.compile(r"^\s*\|.*\|\s*$\n^\s*\|?\s*:?-{3,}", re.M)

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
            check_key(key, lineno)
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
