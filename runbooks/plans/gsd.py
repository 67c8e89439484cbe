"""GSD-style plans: ``<task>`` blocks and top-level XML sections (``<objective>``, ``<context>``…).

A GSD ``PLAN.md`` (get-shit-done for Claude Code) is front matter, then XML-like sections written
at the start of their lines, and ``<tasks>`` holding ``<task type="auto">`` or
``<task type="checkpoint:human-verify" gate="blocking">`` elements. A task's sub-elements are
``<name>``, ``<files>``, ``<read_first>``, ``<action>``, ``<verify>`` (prose, a command, or
``<automated>…</automated>``), ``<acceptance_criteria>``, ``<done>``; checkpoint tasks have
``<what-built>``, ``<how-to-verify>``, ``<resume-signal>`` and decision tasks ``<decision>``,
``<context>``, ``<options>``. Their content is Markdown with blank lines and fences, so CommonMark
would cut a task into unrelated blocks: :func:`segments` finds the regions first (by lines,
outside fences), the walker reads Markdown between them.

Every sub-element is kept: in ``ParsedStep.fields`` as written and in the step's body under a
label. Commands come only from real shell: shell fences inside the task and a ``<verify>`` (or its
``<automated>`` part) whose every line is a command; a prose ``<verify>`` stays in the body.
"""

from __future__ import annotations

import bisect
import re
import textwrap
from dataclasses import dataclass, field

from . import fences
from .result import Command
from .rules import BOX_LINE_RE

_HTML_TAGS_WORDS = """
    a abbr address area article aside audio b base bdi bdo blockquote body br button canvas
    caption center cite code col colgroup data datalist dd del details dfn dialog div dl dt em
    embed fieldset figcaption figure font footer form h1 h2 h3 h4 h5 h6 head header hgroup hr
    html i iframe img input ins kbd label legend li link main map mark menu meta meter nav
    noscript object ol optgroup option p param picture pre progress q rp rt ruby s samp script
    search section select slot small source span strong style sub summary sup svg table tbody
    td template textarea tfoot th thead time title tr track u ul var video wbr
    """
HTML_TAGS = set(_HTML_TAGS_WORDS.split())
OPEN_RE = re.compile(r"^ {0,3}<([a-z][\w-]*)((?:\s+[\w:-]+(?:=\"[^\"]*\"|='[^']*')?)*)\s*>(.*)$")
CLOSE_ANY_RE = re.compile(r"</([a-z][\w-]*)>")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})\s*([\w+#.-]*)")
ATTR_RE = re.compile(r"([\w:-]+)=(?:\"([^\"]*)\"|'([^']*)')")
SUB_OPEN_RE = re.compile(r"^\s*<([a-z][\w-]*)((?:\s+[\w:-]+(?:=\"[^\"]*\"|='[^']*')?)*)\s*>(.*)$")
INNER_TAG_RE = re.compile(r"<(automated|manual)>(.*?)</\1>", re.DOTALL)
LIST_LEAD_RE = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+(?:\[[ xX]\]\s+)?")
TAG_ONLY_RE = re.compile(r"^\s*</?[a-z][\w-]*[^>]*>\s*$")

#: order of the labelled parts of a task's body
LABELS = {
    "what-built": "What was built",
    "how-to-verify": "How to verify",
    "decision": "Decision",
    "context": "Context",
    "options": "Options",
    "read_first": "Read first",
    "acceptance_criteria": "Acceptance criteria",
    "verify": "Verify",
}
SINGLE = {"files": "Files", "done": "Done when", "resume-signal": "Resume signal"}
TITLE_SOURCES = ("action", "what-built", "how-to-verify", "decision", "done", "verify")


@dataclass
class Segment:
    kind: str  # md | task | tag | wrap
    start: int  # first line index
    end: int  # line index after the last
    name: str = ""
    attrs: dict = field(default_factory=dict)


def _attrs(text: str) -> dict:
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3)
        for m in ATTR_RE.finditer(text or "")
    }


def is_section_tag(name: str) -> bool:
    return name not in HTML_TAGS


def segments(lines: list[str], start: int, end: int) -> list[Segment]:
    """Split ``lines[start:end]`` into Markdown and GSD regions (linear; fences respected)."""
    closing: dict[str, list[int]] = {}
    for i in range(start, end):
        if "</" in lines[i]:
            for m in CLOSE_ANY_RE.finditer(lines[i]):
                closing.setdefault(m.group(1), []).append(i)
    out: list[Segment] = []
    md_start = start
    fence = None

    def flush(upto: int):
        if upto > md_start:
            out.append(Segment("md", md_start, upto))

    i = start
    while i < end:
        line = lines[i]
        if fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence) and stripped.strip(fence[0]) == "":
                fence = None
            i += 1
            continue
        stripped = line.strip()
        lead = stripped[:1]
        if lead not in ("<", "`", "~"):
            i += 1
            continue
        fm = FENCE_RE.match(line)
        if fm:
            fence = fm.group(1)
            i += 1
            continue
        if stripped in ("<tasks>", "</tasks>"):
            flush(i)
            out.append(Segment("wrap", i, i + 1, name="tasks"))
            md_start = i + 1
            i += 1
            continue
        m = OPEN_RE.match(line)
        if m and is_section_tag(m.group(1)) and m.group(1) != "tasks":
            name = m.group(1)
            if f"</{name}>" in m.group(3):
                close = i
            else:
                found = closing.get(name, [])
                k = bisect.bisect_right(found, i)
                close = found[k] if k < len(found) else None
            if close is not None:
                flush(i)
                kind = "task" if name == "task" else "tag"
                out.append(Segment(kind, i, close + 1, name=name, attrs=_attrs(m.group(2))))
                md_start = close + 1
                i = close + 1
                continue
        i += 1
    flush(end)
    return out


@dataclass
class Part:
    name: str
    attrs: dict
    #: (line index, text) of the content lines, as written
    lines: list[tuple[int, str]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return textwrap.dedent("\n".join(t for _, t in self.lines)).strip("\n").rstrip()


def split_parts(lines: list[str], start: int, end: int) -> tuple[list[Part], list[tuple[int, str]]]:
    """The sub-elements of a region (``lines[start]`` is the opening tag line, ``lines[end-1]``
    holds the closing one), and the loose lines between them."""
    parts: list[Part] = []
    loose: list[tuple[int, str]] = []
    body: list[tuple[int, str]] = []
    first = OPEN_RE.match(lines[start])
    after_open = first.group(3) if first else ""
    outer = first.group(1) if first else ""
    if start == end - 1:  # one line: <task ...>…</task>
        body.append((start, after_open.split(f"</{outer}>")[0]))
    else:
        if after_open.strip():
            body.append((start, after_open))
        body += [(i, lines[i]) for i in range(start + 1, end - 1)]
        last = lines[end - 1].split(f"</{outer}>")[0]
        if last.strip():
            body.append((end - 1, last))
    current: Part | None = None
    for idx, text in body:
        if current is None:
            m = SUB_OPEN_RE.match(text)
            if m:
                name, rest = m.group(1), m.group(3)
                part = Part(name=name, attrs=_attrs(m.group(2)))
                closing = f"</{name}>"
                if closing in rest:
                    part.lines.append((idx, rest.split(closing, 1)[0]))
                    parts.append(part)
                else:
                    if rest.strip():
                        part.lines.append((idx, rest))
                    current = part
                continue
            if text.strip():
                loose.append((idx, text))
            continue
        closing = f"</{current.name}>"
        if closing in text:
            before = text.split(closing, 1)[0]
            if before.strip():
                current.lines.append((idx, before))
            parts.append(current)
            current = None
        else:
            current.lines.append((idx, text))
    if current is not None:
        parts.append(current)
    return parts, loose


@dataclass
class Box:
    line: int
    indent: int
    checked: bool
    title: str


@dataclass
class TaskParts:
    title: str = ""
    title_line: int = 0
    named: bool = True
    body: str = ""
    commands: list[Command] = field(default_factory=list)
    verify: str = ""
    fields: dict = field(default_factory=dict)
    boxes: list[Box] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(
        default_factory=list
    )  # (line, why a fence is not a command)


def _fenced(lines: list[tuple[int, str]], commands: list[Command], notes) -> list[tuple[int, str]]:
    """Take shell fences out of ``lines`` as commands; other fences stay."""
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        idx, text = lines[i]
        m = FENCE_RE.match(text)
        if not m:
            out.append(lines[i])
            i += 1
            continue
        marker, lang = m.group(1), m.group(2)
        j = i + 1
        while j < len(lines) and not (
            lines[j][1].strip().startswith(marker) and lines[j][1].strip().strip(marker[0]) == ""
        ):
            j += 1
        block = lines[i : j + 1]
        code = textwrap.dedent("\n".join(t for _, t in lines[i + 1 : j]))
        cmd, why = fences.command(lang, code)
        if cmd is not None:
            commands.append(cmd)
        else:
            out += block
            if why:
                notes.append((idx, why))
        i = j + 1
    return out


def _boxes(lines: list[tuple[int, str]], boxes: list[Box]) -> list[tuple[int, str]]:
    out = []
    for idx, text in lines:
        m = BOX_LINE_RE.match(text)
        if m:
            boxes.append(
                Box(
                    idx,
                    len(m.group("lead")),
                    m.group("mark") in "xX",
                    (m.group("title") or "").strip(),
                )
            )
        else:
            out.append((idx, text))
    return out


def _text(lines: list[tuple[int, str]]) -> str:
    return textwrap.dedent("\n".join(t for _, t in lines)).strip("\n").rstrip()


def task(parts: list[Part], loose: list[tuple[int, str]], attrs: dict) -> TaskParts:
    out = TaskParts()
    by_name: dict[str, Part] = {}
    for p in parts:
        if p.name in by_name:
            by_name[p.name].lines += p.lines
        else:
            by_name[p.name] = p
    out.fields = {k: v for k, v in attrs.items()}
    for name, p in by_name.items():
        out.fields[name] = p.text
    name = by_name.get("name")
    if name and name.text.strip():
        first = next((i, t) for i, t in name.lines if t.strip())
        out.title, out.title_line = first[1].strip(), first[0]
        rest = [(i, t) for i, t in name.lines if i != first[0]]
    else:
        out.named = False
        rest = []
        for src in TITLE_SOURCES + tuple(n for n in by_name if n not in TITLE_SOURCES):
            part = by_name.get(src)
            if not part:
                continue
            for i, t in part.lines:
                s = t.strip()
                if not s or FENCE_RE.match(t) or TAG_ONLY_RE.match(t):
                    continue
                s = LIST_LEAD_RE.sub("", s).lstrip("#").strip().strip("*").strip()
                if s:
                    out.title, out.title_line = s, i
                    break
            if out.title:
                break
    sections: list[str] = []
    if rest:
        sections.append(_text(rest))
    commands: list[Command] = []
    action = by_name.get("action")
    if action:
        sections.append(_text(_fenced(_boxes(action.lines, out.boxes), commands, out.notes)))
    verify_cmds: list[Command] = []
    for pname, part in by_name.items():
        if pname in ("name", "action"):
            continue
        lines = _boxes(part.lines, out.boxes)
        if pname == "verify":
            text = _text(lines)
            inner = INNER_TAG_RE.findall(text)
            if inner:
                prose = INNER_TAG_RE.sub("", text).strip()
                for kind, content in inner:
                    content = textwrap.dedent(content).strip()
                    if kind == "automated" and fences.is_shell_text(content):
                        verify_cmds.append(Command(lang="sh", code=content))
                    else:
                        prose = f"{prose}\n{content}".strip()
                out.verify = "\n".join(c.code for c in verify_cmds) or text
                if prose:
                    sections.append(f"Verify:\n\n{prose}")
                continue
            out.verify = text
            if fences.is_shell_text(text):
                verify_cmds.append(Command(lang="sh", code=text))
                continue
            lines = _fenced(lines, commands, out.notes)
            text = _text(lines)
            if text:
                sections.append(f"Verify:\n\n{text}")
            continue
        lines = _fenced(lines, commands, out.notes)
        text = _text(lines)
        if not text:
            continue
        if pname in SINGLE and "\n" not in text:
            sections.append(f"{SINGLE[pname]}: {text}")
        else:
            label = (
                LABELS.get(pname)
                or SINGLE.get(pname)
                or pname.replace("_", " ").replace("-", " ").capitalize()
            )
            sections.append(f"{label}:\n\n{text}")
    if loose:
        sections.append(_text(loose))
    out.commands = commands + verify_cmds
    out.body = "\n\n".join(s for s in sections if s.strip())
    return out
