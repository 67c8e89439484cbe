"""Word and pattern rules: numbered steps, bold titles, rollback headings, checkbox lines."""

from __future__ import annotations

import re

#: "1.", "1.2", "Step 3:", "Langkah 2", "Passo 4", "Task 1:" at the start of a title
NUMBERED_RE = re.compile(
    r"^\W{0,3}(?:(?:step|langkah|tahap|passo|task|tugas|tarefa)\s+)?\d+(?:\.\d+)*[.):]?(?:\s|$)",
    re.IGNORECASE,
)
#: a bold that is only a number or a "Step 3:" label: the title runs on to the end of the line
LABEL_RE = re.compile(
    r"^\W{0,3}(?:(?:step|langkah|tahap|passo|task|tugas|tarefa)\s+)?\d+(?:\.\d+)*[.):]?\s*$",
    re.IGNORECASE,
)
PHASE_LIKE_RE = re.compile(
    r"^\W*(phase|fase|tahap|tahapan|stage|langkah|etapa)\s*\d+", re.IGNORECASE
)
ROLLBACK_WORDS = (
    r"roll[\s-]?back(?:s|ed)?|rolling[\s-]back|revert(?:ing)?|undo|back[\s-]?out|"
    r"emergenc(?:y|ies)|kembalikan|pengembalian|pemulihan|darurat|"
    r"reverter|revers[ãa]o|revertendo|emerg[êe]ncia|desfazer|retrocesso"
)
ROLLBACK_ANYWHERE_RE = re.compile(rf"\b(?:{ROLLBACK_WORDS})\b", re.IGNORECASE)
ROLLBACK_START_RE = re.compile(rf"^(?:{ROLLBACK_WORDS})\b", re.IGNORECASE)
LEAD_RE = re.compile(
    r"^[\W_]*(?:(?:step|langkah|tahap|passo|task|phase|fase)\s+)?(?:\d+(?:\.\d+)*[.):]?)?[\W_]*",
    re.IGNORECASE,
)
#: a checkbox list item line: "- [ ] x", "* [x] x", "+ [ ] x", "1. [ ] x", "2) [X] x", in quotes too
BOX_LINE_RE = re.compile(
    r"^(?P<lead>[ \t]*(?:>[ \t]?)*[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+)"
    r"\[(?P<mark>[ xX])\](?:[ \t]+(?P<title>.*)|[ \t]*)$"
)
SPEC_REF_RE = re.compile(r"^(T\d{2,5})\b")
HEADING_LINE_RE = re.compile(r"^[ \t]{0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")


def is_numbered(title: str) -> bool:
    return bool(NUMBERED_RE.match(title))


def is_rollback_heading(title: str) -> bool:
    """A rollback section: a rollback word anywhere in an unnumbered heading; a numbered one
    ("### 3. Rollback") only when it starts with the word, so "3.2 Prepare the rollback
    script" stays a step."""
    if is_numbered(title):
        return bool(ROLLBACK_START_RE.match(LEAD_RE.sub("", title, count=1)))
    return bool(ROLLBACK_ANYWHERE_RE.search(title))


def heading_text(line: str) -> str:
    """The text of an ATX heading line as written (hashes and closing hashes removed)."""
    m = HEADING_LINE_RE.match(line)
    return (m.group(2) or "").strip() if m else line.strip()


def spec_ref(title: str) -> str:
    if not title.startswith("T"):
        return ""
    m = SPEC_REF_RE.match(title)
    return m.group(1) if m else ""


STRONG_PAIR_RE = re.compile(r"\*\*(.+?)\*\*")
CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1")


def plain(title: str) -> str:
    """A title as read: ``**bold**`` and code-span backticks removed, everything else kept."""
    if "**" in title:
        title = STRONG_PAIR_RE.sub(r"\1", title)
    if "`" in title:
        title = CODE_SPAN_RE.sub(lambda m: m.group(2).strip(), title)
    if "  " in title or "\t" in title:
        return " ".join(title.split())
    return title.strip()
