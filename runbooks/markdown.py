"""Turn a team's Markdown plan into phases, steps, a rollback plan and notes.

Parsing works on markdown-it-py's token stream (CommonMark + tables, front matter and task list
plugins); source slices are taken through each block token's line ``map`` so tables, nested lists
and prose keep their Markdown. The result is plain dataclasses, independent of the ORM.

How plans are read:
- YAML front matter is metadata; a ``todos:`` list becomes a "Todos" phase.
- The first H1 is the title. H2/H3 headings open sections; a section that ends up holding steps
  is a phase, one without checkable content is a note, an empty one is dropped.
- A heading numbered like ``### 1.1 Create ...`` / ``#### Step 2: ...`` / ``Langkah 3`` is a step
  whose body runs to the next step or a heading of the same or a higher level; so is a bold
  numbered line (``**1.1 Inventory env vars**``). Lists inside such a step stay in its body.
- Outside numbered steps, each ``- [ ]`` / ``- [x]`` item is a step; nested items stay with it.
- Fenced code blocks are the current step's commands (language kept).
- A "Rollback" / "Rollback Plan" / "Rencana Rollback" section is the rollback plan.
- ``<task>`` blocks (``<name>``, ``<action>``, ``<verify>``, ``<done>``) are steps whose verify
  is a command; other top-level tags (``<objective>``, ``<context>``...) are notes.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

MAX_BYTES = 2 * 1024 * 1024

ROLLBACK_RE = re.compile(
    r"^\W*(rollback|roll[ -]back|rencana\s+rollback|strategi\s+rollback|pemulihan|"
    r"rencana\s+pemulihan|kembalikan)\b",
    re.IGNORECASE,
)
NUMBERED_RE = re.compile(
    r"^\W{0,3}(?:(?:step|langkah|tahap)\s+)?\d+(?:\.\d+)*[.):]?(?:\s|$)", re.IGNORECASE
)
PHASE_LIKE_RE = re.compile(r"^\W*(phase|fase|tahap|tahapan|stage|langkah)\s*\d+", re.IGNORECASE)
TAG_PARAGRAPH_RE = re.compile(r"<([a-z_][\w-]*)>\s*(.*?)\s*</\1>", re.DOTALL)
OPEN_TAG_RE = re.compile(r"<([a-z_][\w-]*)( [^>]*)?>\s*(\n|$)")
DONE_STATUSES = {"done", "completed", "complete", "finished", "selesai", "x", "true"}


class PlanParseError(ValueError):
    """The file cannot be read as a plan; the message says why."""


@dataclass
class Command:
    lang: str
    code: str


@dataclass
class ParsedStep:
    title: str
    body: str = ""
    commands: list[Command] = field(default_factory=list)
    checked: bool = False
    ref: str = ""
    verify: str = ""
    source: str = "checklist"  # checklist | heading | bold | task | todo


@dataclass
class ParsedPhase:
    title: str
    description: str = ""
    steps: list[ParsedStep] = field(default_factory=list)


@dataclass
class Section:
    title: str
    body: str = ""


@dataclass
class ParsedPlan:
    title: str
    metadata: dict = field(default_factory=dict)
    phases: list[ParsedPhase] = field(default_factory=list)
    rollback: list[Section] = field(default_factory=list)
    notes: list[Section] = field(default_factory=list)

    @property
    def step_count(self) -> int:
        return sum(len(p.steps) for p in self.phases)

    def to_dict(self) -> dict:
        return asdict(self)


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").use(front_matter_plugin).use(tasklists_plugin)


def decode(data: bytes) -> str:
    """Check size and encoding of an uploaded or read file."""
    if len(data) > MAX_BYTES:
        raise PlanParseError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; plans are limited to 2 MB."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlanParseError(
            f"The file is not valid UTF-8 (byte {exc.start}); save it as UTF-8 and try again."
        ) from None
    return text


def parse_bytes(data: bytes, *, default_title: str = "") -> ParsedPlan:
    return parse(decode(data), default_title=default_title)


# --- token helpers ----------------------------------------------------------------------------
def _blocks(tokens: list[Token], level: int = 0):
    """Yield (start, end) index ranges of the block tokens at ``level``."""
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.level != level:
            i += 1
            continue
        if tok.nesting == 1:
            depth, j = 0, i
            while j < n:
                if tokens[j].level == level:
                    depth += tokens[j].nesting
                    if depth == 0:
                        break
                j += 1
            yield i, j + 1
            i = j + 1
        else:
            yield i, i + 1
            i += 1


def _inline_text(tok: Token, *, first_line: bool = False) -> str:
    parts = []
    for child in tok.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            if first_line:
                break
            parts.append(" ")
    return "".join(parts).strip()


class _TaskParser(HTMLParser):
    """Collect the fields of each ``<task>`` element in a chunk of source."""

    FIELDS = ("name", "action", "verify", "done", "files")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tasks: list[dict[str, str]] = []
        self._task: dict[str, str] | None = None
        self._current: str | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "task" and self._current is None:
            self._task = {}
        elif tag in self.FIELDS and self._current is None and self._task is not None:
            self._current, self._buf = tag, []
        elif self._current is not None:
            # Text such as "<bad-commit>" inside an action is content, not markup.
            self._buf.append(self.get_starttag_text() or "")

    def handle_endtag(self, tag):
        if tag == self._current and self._task is not None:
            self._task[tag] = "".join(self._buf)
            self._current = None
        elif self._current is not None:
            self._buf.append(f"</{tag}>")
        elif tag == "task" and self._task is not None:
            self.tasks.append(self._task)
            self._task = None

    def handle_data(self, data):
        if self._current is not None:
            self._buf.append(data)


def _clean(text: str) -> str:
    return textwrap.dedent(text.strip("\n")).strip()


# --- the walk ---------------------------------------------------------------------------------
class _Container:
    """A heading's section while it is being read: becomes a phase, a note, or nothing."""

    def __init__(self, title: str, level: int):
        self.title, self.level = title, level
        self.body: list[str] = []
        self.steps: list[ParsedStep] = []


class _Walker:
    def __init__(self, text: str, default_title: str):
        self.lines = text.split("\n")
        self.default_title = default_title
        self.title = ""
        self.metadata: dict = {}
        self.containers: list[_Container] = []
        self.stack: list[_Container] = []
        self.rollback: list[Section] = []
        self.in_rollback_level: int | None = None
        self.step: ParsedStep | None = None
        self.step_level = 0  # heading level of a heading step; 99 for bold/checklist steps
        self.structure = False

    # helpers
    def src(self, tok: Token, start: int | None = None) -> str:
        if not tok.map:
            return ""
        a, b = tok.map
        return "\n".join(self.lines[(a if start is None else start) : b]).rstrip()

    def container(self) -> _Container:
        if not self.stack:
            c = _Container("Overview", 1)
            self.containers.append(c)
            self.stack.append(c)
        return self.stack[-1]

    def add_body(self, text: str) -> None:
        if not text.strip():
            return
        if self.in_rollback_level is not None:
            r = self.rollback[-1]
            r.body = f"{r.body}\n\n{text}".strip()
        elif self.step is not None:
            self.step.body = f"{self.step.body}\n\n{text}".strip()
        else:
            self.container().body.append(text)

    def new_step(self, step: ParsedStep, level: int, container: _Container | None = None) -> None:
        self.structure = True
        (container or self.container()).steps.append(step)
        self.step, self.step_level = step, level

    # block handlers
    def heading(self, tokens: list[Token]) -> None:
        level = int(tokens[0].tag[1])
        title = _inline_text(tokens[1])
        self.structure = True
        if level == 1 and not self.title:
            self.title = title
            return
        if self.in_rollback_level is not None:
            if level > self.in_rollback_level:
                self.add_body(self.src(tokens[0]))
                return
            self.in_rollback_level = None
        if self.step is not None and self.step_level < 99 and level > self.step_level:
            self.add_body(self.src(tokens[0]))
            return
        self.step = None
        level = max(level, 2)
        if ROLLBACK_RE.match(title):
            self.rollback.append(Section(title=title))
            self.in_rollback_level = level
            return
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        is_step = level >= 3 and NUMBERED_RE.match(title)
        if not is_step and level >= 4 and parent and PHASE_LIKE_RE.match(parent.title):
            is_step = True
        if is_step and parent is not None:
            self.new_step(ParsedStep(title=title, source="heading"), level, parent)
            return
        c = _Container(title, level)
        self.containers.append(c)
        self.stack.append(c)

    def paragraph(self, tokens: list[Token], start: int, end: int) -> None:
        inline = tokens[start + 1]
        kids = [
            k
            for k in inline.children or []
            if k.type != "softbreak" and not (k.type == "text" and not k.content.strip())
        ]
        if (
            self.in_rollback_level is None
            and len(kids) >= 3
            and kids[0].type == "strong_open"
            and kids[2].type == "strong_close"
            and NUMBERED_RE.match(kids[1].content)
        ):
            title = _inline_text(inline)
            self.step = None
            self.new_step(ParsedStep(title=title, source="bold"), 99)
            return
        source = self.src(tokens[start])
        # Tags with underscores (<execution_context>) are not HTML blocks in CommonMark.
        tag = TAG_PARAGRAPH_RE.fullmatch(source.strip())
        if tag and self.step is None and self.in_rollback_level is None:
            self.tag_note(tag.group(1), tag.group(2))
            return
        self.add_body(source)

    def bullet_list(self, tokens: list[Token], start: int, end: int) -> None:
        is_tasks = "contains-task-list" in str(tokens[start].attrs.get("class", ""))
        if not is_tasks or self.in_rollback_level is not None:
            self.add_body(self.src(tokens[start]))
            return
        if (self.step is not None and self.step_level < 99) or (
            self.step is not None and self.step.source == "bold"
        ):
            # A checklist under a numbered step is that step's sub-checklist.
            self.add_body(self.src(tokens[start]))
            return
        self.step = None
        container = self.container()
        inner = tokens[start + 1 : end - 1]
        for a, b in _blocks(inner, level=tokens[start].level + 1):
            item = inner[a:b]
            if "task-list-item" not in str(item[0].attrs.get("class", "")):
                self.add_body(self.src(item[0]))
                continue
            first_inline = next(t for t in item if t.type == "inline")
            checked = any(
                k.type == "html_inline" and "checked" in k.content
                for k in (first_inline.children or [])
            )
            # The item's first line is its title; continuation lines belong to the body.
            title = _inline_text(first_inline, first_line=True)
            para_end = first_inline.map[0] + 1 if first_inline.map else None
            commands = [
                Command(lang=(t.info or "").split(" ")[0].strip(), code=t.content.rstrip("\n"))
                for t in item
                if t.type == "fence"
            ]
            body_lines = []
            if para_end is not None and item[0].map:
                rest = self.lines[para_end : item[0].map[1]]
                # Fences are kept as commands; the rest of the item (nested items, prose) is body.
                fence_lines = set()
                for t in item:
                    if t.type == "fence" and t.map:
                        fence_lines.update(range(t.map[0], t.map[1]))
                body_lines = [
                    line for idx, line in enumerate(rest, start=para_end) if idx not in fence_lines
                ]
            body = re.sub(r"\n{3,}", "\n\n", textwrap.dedent("\n".join(body_lines)).strip())
            container.steps.append(
                ParsedStep(title=title, body=body, commands=commands, checked=checked)
            )
            self.structure = True
        self.step = None

    def fence(self, tok: Token) -> None:
        if self.step is not None and self.in_rollback_level is None:
            lang = (tok.info or "").split(" ")[0].strip()
            self.step.commands.append(Command(lang=lang, code=tok.content.rstrip("\n")))
        else:
            self.add_body(self.src(tok))

    def html_block(self, tokens: list[Token], index: int) -> int:
        """Handle a top-level tag block; returns the index to continue from."""
        tok = tokens[index]
        content = (tok.content if tok.type == "html_block" else self.src(tok)).strip()
        if content.startswith("</tasks"):
            return index + 1
        if content.startswith("<task"):
            # <tasks>/<task> elements span several CommonMark blocks once blank lines appear
            # inside <action>: read the source from here to the closing tag, then skip the
            # tokens inside it.
            first = tok.map[0] if tok.map else 0
            closing = "</tasks>" if content.startswith("<tasks") else "</task>"
            last = first
            while last < len(self.lines):
                last += 1
                if closing in self.lines[last - 1]:
                    if closing == "</tasks>":
                        break
                    nxt = next((x for x in self.lines[last:] if x.strip()), "")
                    if not nxt.lstrip().startswith("<task"):
                        break
            chunk = "\n".join(self.lines[first:last])
            parser = _TaskParser()
            parser.feed(chunk)
            parser.close()
            for fields in parser.tasks:
                self.task(fields)
            j = index
            while j + 1 < len(tokens) and (
                tokens[j + 1].map is None or tokens[j + 1].map[0] < last
            ):
                j += 1
            return j + 1
        match = re.match(r"<([a-z_][\w-]*)[^>]*>", content)
        if match and self.in_rollback_level is None and self.step is None:
            # Top-level tags such as <objective> or <context>: a note named after the tag.
            tag = match.group(1)
            first = tok.map[0] if tok.map else 0
            j, last = index, tok.map[1] if tok.map else first
            while f"</{tag}>" not in "\n".join(self.lines[first:last]) and j + 1 < len(tokens):
                j += 1
                if tokens[j].map:
                    last = max(last, tokens[j].map[1])
            chunk = "\n".join(self.lines[first:last])
            inner = chunk.split(">", 1)[1].rsplit(f"</{tag}>", 1)[0]
            self.tag_note(tag, inner)
            while j + 1 < len(tokens) and (
                tokens[j + 1].map is None or tokens[j + 1].map[0] < last
            ):
                j += 1
            return j + 1
        self.add_body(self.src(tok))
        return index + 1

    def tag_note(self, tag: str, inner: str) -> None:
        title = tag.replace("_", " ").capitalize()
        self.structure = True
        if ROLLBACK_RE.match(tag):
            self.rollback.append(Section(title=title, body=_clean(inner)))
            return
        c = _Container(title, 2)
        c.body.append(_clean(inner))
        self.containers.append(c)

    def task(self, f: dict) -> None:
        name = _clean(f.get("name", "")) or "Task"
        body_parts = [_clean(f.get("action", ""))]
        if f.get("done"):
            body_parts.append(f"Done when: {_clean(f['done'])}")
        verify = _clean(f.get("verify", ""))
        commands = [Command(lang="sh", code=verify)] if verify else []
        if self.step is not None or not self.stack or self.stack[-1].title != "Tasks":
            self.step = None
            c = _Container("Tasks", 2)
            if self.stack and self.stack[-1].title == "Tasks":
                c = self.stack[-1]
            else:
                self.containers.append(c)
                self.stack = [c]
        step = ParsedStep(
            title=name,
            body="\n\n".join(p for p in body_parts if p),
            commands=commands,
            verify=verify,
            source="task",
        )
        self.stack[-1].steps.append(step)
        self.structure = True

    def front_matter(self, tok: Token) -> None:
        try:
            data = yaml.safe_load(tok.content) if tok.content.strip() else {}
        except yaml.YAMLError as exc:
            raise PlanParseError(f"The YAML front matter is not valid: {exc}") from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise PlanParseError("The YAML front matter must be a mapping of keys to values.")
        self.metadata = data
        self.structure = True
        todos = data.get("todos")
        if isinstance(todos, list) and todos:
            c = _Container("Todos", 2)
            for i, todo in enumerate(todos, start=1):
                if isinstance(todo, dict):
                    title = str(
                        todo.get("content") or todo.get("title") or todo.get("name") or ""
                    ).strip()
                    status = str(todo.get("status", "")).strip().lower()
                    ref = str(todo.get("id", i))
                else:
                    title, status, ref = str(todo).strip(), "", str(i)
                if title:
                    c.steps.append(
                        ParsedStep(
                            title=title, checked=status in DONE_STATUSES, ref=ref, source="todo"
                        )
                    )
            if c.steps:
                self.containers.append(c)

    # driver
    def run(self, tokens: list[Token]) -> ParsedPlan:
        ranges = list(_blocks(tokens, 0))
        k = 0
        while k < len(ranges):
            a, b = ranges[k]
            tok = tokens[a]
            t = tok.type
            if t == "front_matter":
                self.front_matter(tok)
            elif t == "heading_open":
                self.heading(tokens[a:b])
            elif (
                t == "paragraph_open"
                and self.step is None
                and OPEN_TAG_RE.match(self.src(tok).strip())
            ):
                nxt = self.html_block(tokens, a)
                while k + 1 < len(ranges) and ranges[k + 1][0] < nxt:
                    k += 1
            elif t == "paragraph_open":
                self.paragraph(tokens, a, b)
            elif t == "bullet_list_open":
                self.bullet_list(tokens, a, b)
            elif t == "fence":
                self.fence(tok)
            elif t == "html_block":
                nxt = self.html_block(tokens, a)
                while k + 1 < len(ranges) and ranges[k + 1][0] < nxt:
                    k += 1
            elif t == "hr":
                pass
            else:  # ordered lists, tables, quotes, indented code: body
                self.add_body(self.src(tok))
            k += 1
        return self.finish()

    def finish(self) -> ParsedPlan:
        if not self.structure:
            raise PlanParseError(
                "No plan structure found: expected headings, a - [ ] checklist, "
                "<task> blocks or YAML front matter."
            )
        title = self.title or str(self.metadata.get("title") or "").strip()
        phases, notes = [], []
        for c in self.containers:
            body = "\n\n".join(x for x in c.body if x.strip()).strip()
            if c.steps:
                phases.append(ParsedPhase(title=c.title, description=body, steps=c.steps))
            elif body:
                notes.append(Section(title=c.title, body=body))
        if not title:
            objective = next((n for n in notes if n.title == "Objective"), None)
            if objective:
                title = objective.body.split("\n", 1)[0].strip()
        title = (title or self.default_title or "Untitled plan")[:200]
        for r in self.rollback:
            r.body = r.body.strip()
        return ParsedPlan(
            title=title,
            metadata=self.metadata,
            phases=phases,
            rollback=self.rollback,
            notes=notes,
        )


def parse(text: str, *, default_title: str = "") -> ParsedPlan:
    """Parse a plan; raises :class:`PlanParseError` with a readable message."""
    if len(text.encode("utf-8")) > MAX_BYTES:
        raise PlanParseError("The file is larger than 2 MB; plans are limited to 2 MB.")
    if not text.strip():
        raise PlanParseError("The file is empty.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    tokens = _md().parse(text)
    return _Walker(text, default_title).run(tokens)
