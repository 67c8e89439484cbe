"""What a parse must keep, checked against the source (tests, the preview's counts).

- :func:`count_checkboxes`: ``- [ ]`` / ``* [x]`` / ``1. [ ]`` lines outside fences and front
  matter, by a line pattern of its own (not the parser's tree);
- :func:`problems`: every box became exactly one checklist step, every step title is one line
  of the source (Markdown emphasis and code backticks aside), and no non-blank source line is
  lost — each is found in a title, body, command, output, verify, note, rollback section, the
  outline of headings or the metadata. It returns readable problems; an empty list is a pass.
"""

from __future__ import annotations

import re

from . import frontmatter, markers
from .result import ParsedPlan
from .rules import BOX_LINE_RE, HEADING_LINE_RE

FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
HR_RE = re.compile(r"^\s{0,3}([-*_])(?:\s*\1){2,}\s*$")
SETEXT_RE = re.compile(r"^\s{0,3}(?:=+|-+)\s*$")
TAG_LINE_RE = re.compile(
    r"^\s*(?:</?[a-z][\w-]*(?:\s+[\w:-]+(?:=\"[^\"]*\"|='[^']*')?)*\s*/?>\s*)+$"
)
LIST_LEAD_RE = re.compile(r"^(?:>\s?)*\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s*)?")
QUOTE_RE = re.compile(r"^(?:>\s?)+")
PROMPT_RE = re.compile(r"^(?:\$|%|PS[^>]*>)\s+")
WRAP_TAG_RE = re.compile(r"^<([a-z][\w-]*)[^>]*>(.*?)(?:</\1>)?$")
CLOSE_TAG_RE = re.compile(r"^(.*?)</[a-z][\w-]*>$")


def _norm(text: str) -> str:
    return " ".join(text.replace("*", "").replace("`", "").split())


def count_checkboxes(text: str) -> int:
    lines = text.split("\n")
    fm = frontmatter.split(lines)
    start = fm[1] + 1 if fm else 0
    fence = None
    count = 0
    for line in lines[start:]:
        if fence is not None:
            s = line.strip()
            if s.startswith(fence) and s.strip(fence[0]) == "":
                fence = None
            continue
        if ("`" in line or "~" in line) and FENCE_RE.match(line):
            fence = FENCE_RE.match(line).group(1)
            continue
        if "[" in line and BOX_LINE_RE.match(line):
            count += 1
    return count


def _candidates(s: str) -> list[str]:
    out = [s]
    s2 = QUOTE_RE.sub("", s).strip()
    out.append(s2)
    s3 = LIST_LEAD_RE.sub("", s2).strip()
    out.append(s3)
    h = HEADING_LINE_RE.match(s2)
    if h:
        out.append((h.group(2) or "").strip())
    out.append(PROMPT_RE.sub("", s2))
    for c in list(out):
        m = WRAP_TAG_RE.match(c)
        if m:
            out.append(m.group(2).strip())
        m = CLOSE_TAG_RE.match(c)
        if m:
            out.append(m.group(1).strip())
    return [c for c in out if c]


def problems(text: str, plan: ParsedPlan) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    found: list[str] = []
    steps = list(plan.steps())
    boxes = count_checkboxes(text)
    made = sum(1 for s in steps if s.is_checkbox)
    if boxes != made:
        found.append(f"{boxes} checkboxes in the source, {made} checklist steps")

    pool: set[str] = set()
    texts: list[str] = []
    titles_by_line: dict[int, list[str]] = {}

    def add(value: str) -> None:
        if not value:
            return
        texts.append(value)
        for line in value.split("\n"):
            n = _norm(line)
            if n:
                pool.add(n)

    add(plan.title)
    for h in plan.outline:
        add(h.title)
        titles_by_line.setdefault(h.line, []).append(h.title)
    for phase in plan.phases:
        add(phase.title)
        add(phase.group)
        add(phase.description)
        for s in phase.steps:
            add(s.title)
            add(s.body)
            add(s.verify)
            for c in s.commands:
                add(c.code)
                add(c.output)
            for v in s.fields.values():
                add(v)
            titles_by_line.setdefault(s.line, []).append(s.title)
            if s.line:
                if "\n" in s.title:
                    found.append(f"line {s.line}: the title of “{s.title[:40]}” spans lines")
                source_line = markers.strip(lines[s.line - 1])[0] if s.line <= len(lines) else ""
                if _norm(s.title) not in _norm(source_line):
                    found.append(f"line {s.line}: the title “{s.title[:60]}” is not on that line")
    for section in plan.notes + plan.rollback:
        add(section.title)
        add(section.body)
        titles_by_line.setdefault(section.line, []).append(section.title)
    joined = _norm("\n".join(texts).replace("\n", " "))

    fm = frontmatter.split(lines)
    start = 0
    if fm:
        start = fm[1] + 1
        if frontmatter.load("\n".join(lines[fm[0] : fm[1]])) != plan.metadata:
            found.append("the front matter is not the plan's metadata")
    marker_pool = {d for s in steps for d in s.markers}
    fence = None
    for idx in range(start, len(lines)):
        raw = lines[idx]
        s = raw.strip()
        if fence is not None:
            if s.startswith(fence) and s.strip(fence[0]) == "":
                fence = None
                continue
        elif FENCE_RE.match(raw):
            fence = FENCE_RE.match(raw).group(1)
            continue
        if not s:
            continue
        if fence is None and (HR_RE.match(s) or SETEXT_RE.match(s) or TAG_LINE_RE.match(s)):
            continue
        clean, directives = markers.strip(s)
        if directives:
            missing = [
                d
                for d in directives
                if d not in marker_pool and "ignored" not in str(plan.warnings)
            ]
            if missing:
                found.append(f"line {idx + 1}: the ops marker {missing[0]!r} is on no step")
            s = clean.strip()
            if not s:
                continue
        if not LIST_LEAD_RE.sub("", QUOTE_RE.sub("", s).strip()).strip():
            continue  # only a list marker or an empty box: no text to lose (boxes counted above)
        ok = False
        for c in _candidates(s):
            n = _norm(c)
            if not n:
                ok = True
                break
            if n in pool:
                ok = True
                break
            for title in titles_by_line.get(idx + 1, []):
                nt = _norm(title)
                if nt and nt in n:
                    rest = n.replace(nt, "", 1).strip(" :.-—")
                    if not rest or rest in pool or rest in joined:
                        ok = True
                        break
            if ok or (len(n) >= 12 and n in joined):
                ok = True
                break
        if not ok:
            found.append(f"line {idx + 1} is lost: {raw.strip()[:80]!r}")
    return found
