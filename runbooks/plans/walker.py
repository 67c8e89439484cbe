"""The walk: Markdown blocks (markdown-it's block tree, with source maps) into sections and steps.

State while reading: a stack of open heading sections (``_Container``), the open heading step and
the open bold step. Body text is always a slice of source lines, so nothing is retyped; every
``- [ ]`` item becomes a step whose parent is the box, bold step or heading step it sits under.
Which heading and bold steps only head a group is decided at the end (:meth:`_Walker.finish`).
"""

from __future__ import annotations

import bisect
import itertools
import textwrap

from markdown_it_pyrs import MarkdownIt

from . import fences, frontmatter, gsd, markers
from .errors import PlanParseError
from .result import Command, Heading, ParsedPhase, ParsedPlan, ParsedStep, PlanWarning, Section
from .rules import (
    BOX_LINE_RE,
    LABEL_RE,
    PHASE_LIKE_RE,
    ROLLBACK_ANYWHERE_RE,
    heading_text,
    is_numbered,
    is_rollback_heading,
    plain,
    spec_ref,
)

BLOCKS = {
    "paragraph", "bullet_list", "ordered_list", "list_item", "fence", "code_block",
    "html_block", "blockquote", "heading", "lheading", "hr", "table", "front_matter",
    "footnote_definition", "definition_list",
}  # fmt: skip
MAX_TITLE = 500


class _Container:
    """A heading's section while it is read: becomes phases, a note, a group title, or nothing."""

    def __init__(self, title: str, level: int, line: int, kind: str, parent):
        self.title, self.level, self.line, self.kind, self.parent = title, level, line, kind, parent
        self.start = line  # the first line after the heading (a setext heading spans two)
        self.body: list[tuple[int, str]] = []
        self.items: list[_Step] = []
        self.markers: list[tuple[int, str]] = []
        self.heading: Heading | None = None
        self.section: Section | None = None


class _Step:
    __slots__ = (
        "body", "checked", "children", "commands", "container", "fields", "heading", "line",
        "markers", "own", "parent", "ref", "source", "title", "verify",
    )  # fmt: skip

    def __init__(self, title, line, source, container, parent=None, checked=False):
        self.title, self.line, self.source = title, line, source
        self.container, self.parent, self.checked = container, parent, checked
        self.body: list[tuple[int, str]] = []
        self.commands: list[Command] = []
        self.children: list[_Step] = []
        self.markers: list[tuple[int, str]] = []
        self.verify = ""
        self.fields: dict = {}
        self.own = False
        self.ref = ""
        self.heading: Heading | None = None


def _join(chunks: list[tuple[int, str]], lines: list[str]) -> str:
    out: list[str] = []
    for first, text in chunks:
        if out:
            blank = first > 0 and not lines[first - 1].strip()
            out.append("\n\n" if blank else "\n")
        out.append(text)
    return "".join(out).strip("\n")


class _Walker:
    def __init__(self, text: str, default_title: str):
        self.text = text
        self.lines = text.split("\n")
        if text.isascii():
            sizes = map(len, self.lines)
        else:
            sizes = (len(line.encode("utf-8")) for line in self.lines)
        self.starts = [0, *itertools.accumulate(n + 1 for n in sizes)]
        self.data = text.encode("utf-8")
        self.default_title = default_title
        self.md = MarkdownIt("commonmark").enable_many(["table"])
        self.title = ""
        self.metadata: dict = {}
        self.root = _Container("Overview", 0, 0, "root", None)
        self.containers: list[_Container] = [self.root]
        self.stack: list[_Container] = [self.root]
        self.heading_step: _Step | None = None
        self.heading_level = 0
        self.bold_step: _Step | None = None
        self.rollbacks: list[_Container] = []
        self.outline: list[Heading] = []
        self.warnings: list[PlanWarning] = []
        self.todos: list[ParsedStep] = []
        self.structure = False
        self.rollback_plan = False
        match = BOX_LINE_RE.match
        #: line index -> its box match; the walk reads the boxes from here, not again by regex
        self.box_at = {
            i: m for i, line in enumerate(self.lines) if "[" in line and (m := match(line))
        }
        self.box_lines = list(self.box_at)

    # --- helpers ------------------------------------------------------------------------------
    def warn(self, line: int, message: str) -> None:
        self.warnings.append(PlanWarning(line, message))

    def span(self, node, base: int) -> tuple[int, int]:
        s, e = node.srcmap
        first = bisect.bisect_right(self.starts, base + s) - 1
        last = bisect.bisect_right(self.starts, base + max(s, e - 1)) - 1
        return first, last + 1

    def has_box(self, first: int, last: int) -> bool:
        boxes = self.box_lines
        k = bisect.bisect_left(boxes, first)
        return k < len(boxes) and boxes[k] < last

    def target(self):
        return self.bold_step or self.heading_step or self.stack[-1]

    def add_text(self, target, first: int, text: str) -> None:
        """Body text for ``target`` (a step or a section), its ops markers taken out."""
        if "<!--" in text:
            kept = []
            for offset, line in enumerate(text.split("\n")):
                clean, found = markers.strip(line)
                target.markers += [(first + offset + 1, d) for d in found]
                if found and not clean.strip():
                    continue
                kept.append(clean.rstrip() if found else line)
            text = "\n".join(kept)
        if text[:1] in " \t" or "\n " in text or "\n\t" in text:
            text = textwrap.dedent(text)
        text = text.strip("\n").rstrip()
        if not text.strip():
            return
        target.body.append((first, text))
        if isinstance(target, _Step):
            target.own = True

    def add_lines(self, target, first: int, last: int) -> None:
        self.add_text(target, first, "\n".join(self.lines[first:last]))

    def attach(self, step: _Step, parent: _Step | None, container: _Container) -> None:
        self.structure = True
        if parent is not None:
            parent.children.append(step)
        else:
            container.items.append(step)

    def add_command(self, step: _Step, node, first: int, last: int) -> bool:
        lang = (node.meta.get("info") or "").split(" ")[0].strip()
        cmd, why = fences.command(lang, node.meta.get("content", ""))
        if cmd is None:
            if why:
                self.warn(first + 1, why)
            return False
        step.commands.append(cmd)
        step.own = True
        return True

    # --- top level ----------------------------------------------------------------------------
    def run(self) -> ParsedPlan:
        lines = self.lines
        start = 0
        fm = frontmatter.split(lines)
        if fm:
            a, b = fm
            self.metadata = frontmatter.load("\n".join(lines[a:b]))
            self.todos = frontmatter.todo_steps(self.metadata)
            self.structure = True
            start = b + 1
        for seg in gsd.segments(lines, start, len(lines)):
            if seg.kind == "md":
                self.markdown(seg.start, seg.end)
            elif seg.kind == "task":
                self.task(seg)
            elif seg.kind == "tag":
                self.tag(seg)
            else:
                self.structure = True
        return self.finish()

    def markdown(self, first: int, last: int) -> None:
        text = "\n".join(self.lines[first:last])
        if not text.strip():
            return
        base = self.starts[first]
        for node in self.md.tree(text).children:
            self.block(node, base)

    def block(self, node, base: int) -> None:
        name = node.name
        if node.srcmap is None:
            return
        first, last = self.span(node, base)
        if name in ("heading", "lheading"):
            self.heading(node, first, last)
        elif name == "paragraph":
            self.paragraph(node, first, last, base)
        elif name in ("bullet_list", "ordered_list"):
            if self.has_box(first, last):
                step = self.bold_step or self.heading_step
                self.box_list(node, base, step, self.stack[-1])
            else:
                self.add_lines(self.target(), first, last)
        elif name == "fence":
            step = self.bold_step or self.heading_step
            if step is None or not self.add_command(step, node, first, last):
                self.add_lines(self.target(), first, last)
        elif name == "html_block":
            self.html(self.target(), first, last)
        elif name == "blockquote" and self.has_box(first, last):
            self.quote(node, base, self.bold_step or self.heading_step, self.stack[-1])
        elif name == "hr":
            return
        else:
            self.add_lines(self.target(), first, last)

    def html(self, target, first: int, last: int) -> None:
        text = "\n".join(self.lines[first:last])
        if markers.ONLY_MARKERS_RE.match(text):
            for offset, line in enumerate(self.lines[first:last]):
                target.markers += [(first + offset + 1, d) for d in markers.strip(line)[1]]
            self.structure = True
            return
        self.add_text(target, first, text)

    def heading(self, node, first: int, last: int) -> None:
        level = int(node.meta.get("level", 2))
        raw = (
            heading_text(self.lines[first]) if node.name == "heading" else self.lines[first].strip()
        )
        raw, found = markers.strip(raw)
        title = plain(raw)
        self.structure = True
        self.bold_step = None
        h = Heading(level, title, first + 1)
        self.outline.append(h)
        top = self.stack[-1]
        if level == 1 and not self.title and top.kind != "rollback":
            self.title, h.role = title, "title"
            # A plan titled "Rollback …" / "Emergency …" is the procedure itself: its sections
            # are its phases, not rollback notes.
            self.rollback_plan = is_rollback_heading(title)
            return
        if self.heading_step is not None and level > self.heading_level:
            h.role = "body"
            self.add_lines(self.heading_step, first, last)
            self.heading_step.markers += [(first + 1, d) for d in found]
            return
        self.heading_step = None
        while len(self.stack) > 1 and self.stack[-1].level >= level:
            self.close(self.stack.pop(), first)
        parent = self.stack[-1]
        in_rollback = parent.kind == "rollback"
        if not in_rollback and not self.rollback_plan and is_rollback_heading(title):
            c = self.push(title, level, first, "rollback", parent, h, found)
            c.start = last
            c.section = Section(title=title, line=first + 1)
            self.rollbacks.append(c)
            h.role = "rollback"
            return
        step_heading = (level >= 3 and is_numbered(title)) or (
            level >= 4 and bool(PHASE_LIKE_RE.match(parent.title))
        )
        if step_heading and not in_rollback and parent is not self.root:
            step = _Step(title, first + 1, "heading", parent)
            step.markers += [(first + 1, d) for d in found]
            step.heading = h  # its role is settled when finishing
            self.attach(step, None, parent)
            self.heading_step, self.heading_level = step, level
            h.role = "step"
            return
        c = self.push(
            title, level, first, "rollback" if in_rollback else "section", parent, h, found
        )
        c.start = last
        h.role = "rollback" if in_rollback else ""

    def push(self, title, level, first, kind, parent, h, found) -> _Container:
        c = _Container(title, level, first + 1, kind, parent)
        c.heading = h
        c.markers += [(first + 1, d) for d in found]
        self.containers.append(c)
        self.stack.append(c)
        return c

    def close(self, c: _Container, end: int) -> None:
        if c.section is not None and not c.section.body:
            text = "\n".join(self.lines[c.start : end])
            text, _ = markers.strip(text)
            c.section.body = text.strip("\n").rstrip()

    def paragraph(self, node, first: int, last: int, base: int) -> None:
        kids = node.children
        in_rollback = self.stack[-1].kind == "rollback"
        strong = kids[0] if kids and kids[0].name == "strong" else None
        if (
            strong is not None
            and not in_rollback
            and strong.srcmap
            and strong.srcmap[0] == node.srcmap[0]
        ):
            s, e = strong.srcmap
            data = self.data
            inner = data[base + s + 2 : base + e - 2].decode("utf-8", "replace")
            if is_numbered(inner.strip()) and "\n" not in inner:
                after = data[base + e : self.starts[first + 1] - 1].decode("utf-8", "replace")
                after, found_after = markers.strip(after)
                inner, found = markers.strip(inner)
                if LABEL_RE.match(inner.strip()) and after.strip():
                    title, rest = plain(f"{inner.strip()} {after.strip()}"), ""
                else:
                    title, rest = plain(inner), after.strip()
                parent = self.heading_step
                container = self.stack[-1]
                step = _Step(title, first + 1, "bold", container, parent)
                step.markers += [(first + 1, d) for d in found + found_after]
                self.attach(step, parent, container)
                self.bold_step = step
                if rest:
                    self.add_text(step, first, rest)
                if last > first + 1:
                    self.add_lines(step, first + 1, last)
                return
        self.add_lines(self.target(), first, last)

    # --- checklists ---------------------------------------------------------------------------
    def box_list(self, node, base: int, parent: _Step | None, container: _Container) -> None:
        # The hot loop of a long checklist: locals instead of attribute lookups.
        starts, right = self.starts, bisect.bisect_right
        box_at = self.box_at.get
        siblings = parent.children if parent is not None else container.items
        for item in node.children:
            srcmap = item.srcmap
            if srcmap is None:
                continue
            s, e = srcmap
            first = right(starts, base + s) - 1
            last = right(starts, base + max(s, e - 1))
            m = box_at(first)
            if m:
                raw = (m.group("title") or "").strip()
                found = None
                if "<!--" in raw:
                    raw, found = markers.strip(raw)
                title = plain(raw)
                step = _Step(
                    title, first + 1, "checklist", container, parent, m.group("mark") in "xX"
                )
                if found:
                    step.markers += [(first + 1, d) for d in found]
                if title.startswith("T"):
                    step.ref = spec_ref(title)
                if not title:
                    self.warn(first + 1, "a checkbox without text (a step with no title)")
                siblings.append(step)
                if last > first + 1:
                    self.item(item, base, step, container, first, last)
            elif self.has_box(first, last):
                self.plain_item(item, base, parent, container, first, last)
            else:
                self.add_lines(parent or container, first, last)
        self.structure = True

    def _children(self, item, base: int):
        """The item's block children, and the last line of its leading paragraph."""
        blocks, last_inline = [], None
        for child in item.children:
            if child.name in BLOCKS:
                blocks.append(child)
            elif child.srcmap is not None:
                last_inline = child
        return blocks, (self.span(last_inline, base)[1] if last_inline is not None else None)

    def item(self, item, base: int, step: _Step, container: _Container, first: int, last: int):
        blocks, lead_end = self._children(item, base)
        if lead_end is None and blocks and blocks[0].name == "paragraph":
            lead_end = self.span(blocks[0], base)[1]
            blocks = blocks[1:]
        if lead_end and lead_end > first + 1:
            self.add_lines(step, first + 1, lead_end)
        for child in blocks:
            cf, cl = self.span(child, base)
            name = child.name
            if name in ("bullet_list", "ordered_list") and self.has_box(cf, cl):
                self.box_list(child, base, step, container)
            elif name == "fence":
                if not self.add_command(step, child, cf, cl):
                    self.add_lines(step, cf, cl)
            elif name == "html_block":
                self.html(step, cf, cl)
            elif name == "blockquote" and self.has_box(cf, cl):
                self.quote(child, base, step, container)
            else:
                self.add_lines(step, cf, cl)

    def plain_item(self, item, base, parent, container, first: int, last: int) -> None:
        target = parent or container
        blocks, lead_end = self._children(item, base)
        if lead_end is None and blocks and blocks[0].name == "paragraph":
            lead_end = self.span(blocks[0], base)[1]
            blocks = blocks[1:]
        self.add_lines(target, first, lead_end or first + 1)
        for child in blocks:
            cf, cl = self.span(child, base)
            if child.name in ("bullet_list", "ordered_list") and self.has_box(cf, cl):
                self.box_list(child, base, parent, container)
            elif child.name == "blockquote" and self.has_box(cf, cl):
                self.quote(child, base, parent, container)
            else:
                self.add_lines(target, cf, cl)

    def quote(self, node, base, parent: _Step | None, container: _Container) -> None:
        target = parent or container
        for child in node.children:
            if child.srcmap is None:
                continue
            cf, cl = self.span(child, base)
            if child.name in ("bullet_list", "ordered_list") and self.has_box(cf, cl):
                self.box_list(child, base, parent, container)
            elif child.name == "blockquote" and self.has_box(cf, cl):
                self.quote(child, base, parent, container)
            else:
                self.add_lines(target, cf, cl)

    # --- GSD regions --------------------------------------------------------------------------
    def task(self, seg: gsd.Segment) -> None:
        self.structure = True
        self.bold_step = self.heading_step = None
        container = self.stack[-1]
        if container is self.root:
            container = self.push("Tasks", 1, seg.start, "section", self.root, None, [])
        parts, loose = gsd.split_parts(self.lines, seg.start, seg.end)
        found: list[tuple[int, str]] = []
        for part in parts:
            part.lines = self._unmark(part.lines, found)
        loose = self._unmark(loose, found)
        tp = gsd.task(parts, loose, seg.attrs)
        title = plain(tp.title)[:MAX_TITLE]
        step = _Step(title or "Task", (tp.title_line or seg.start) + 1, "task", container)
        if not tp.named:
            self.warn(seg.start + 1, f"a <task> without <name>: titled “{title or 'Task'}”")
        if tp.body:
            step.body.append((seg.start + 1, tp.body))
        step.commands, step.verify, step.fields = tp.commands, tp.verify, tp.fields
        step.markers = found
        for line, why in tp.notes:
            self.warn(line + 1, why)
        self.attach(step, None, container)
        chain: list[tuple[int, _Step]] = []
        for box in tp.boxes:
            while chain and chain[-1][0] >= box.indent:
                chain.pop()
            parent = chain[-1][1] if chain else step
            child = _Step(
                plain(box.title), box.line + 1, "checklist", container, parent, box.checked
            )
            parent.children.append(child)
            chain.append((box.indent, child))

    @staticmethod
    def _unmark(lines, found):
        out = []
        for idx, text in lines:
            if "<!--" in text:
                clean, ds = markers.strip(text)
                found += [(idx + 1, d) for d in ds]
                if ds and not clean.strip():
                    continue
                text = clean
            out.append((idx, text))
        return out

    def tag(self, seg: gsd.Segment) -> None:
        self.structure = True
        self.bold_step = self.heading_step = None
        title = seg.name.replace("_", " ").replace("-", " ").capitalize()
        kind = "rollback" if ROLLBACK_ANYWHERE_RE.search(title) else "section"
        saved = self.stack
        c = _Container(title, 1, seg.start + 1, kind, self.root)
        self.containers.append(c)
        self.stack = [self.root, c]
        if kind == "rollback":
            c.section = Section(title=title, line=seg.start + 1)
            self.rollbacks.append(c)
        opening = gsd.OPEN_RE.match(self.lines[seg.start])
        head = opening.group(3) if opening else ""
        closing = f"</{seg.name}>"
        if seg.end - seg.start == 1:
            self.add_text(c, seg.start, head.split(closing, 1)[0])
        else:
            if head.strip():
                self.add_text(c, seg.start, head)
            self.markdown(seg.start + 1, seg.end - 1)
            tail = self.lines[seg.end - 1].split(closing, 1)[0]
            if tail.strip():
                self.add_text(self.target(), seg.end - 1, tail)
        while len(self.stack) > 1:
            self.close(self.stack.pop(), seg.end - 1)
        self.stack = saved
        self.bold_step = self.heading_step = None

    # --- the result ---------------------------------------------------------------------------
    def finish(self) -> ParsedPlan:
        from .invariants import count_checkboxes

        if not self.structure:
            raise PlanParseError(
                "No plan structure found: expected headings, a - [ ] checklist, "
                "<task> blocks or YAML front matter."
            )
        while len(self.stack) > 1:
            self.close(self.stack.pop(), len(self.lines))
        for c in self.rollbacks:
            self.close(c, len(self.lines))
        phases: list[ParsedPhase] = []
        notes: list[Section] = []
        if self.todos:
            phases.append(ParsedPhase(title="Todos", steps=self.todos))
        groups_used: set[int] = set()
        late_rollbacks: list[Section] = []
        for c in self.containers:
            rollback = c.kind == "rollback"
            group_title = ""
            if c.parent is not None and c.parent is not self.root:
                group_title = c.parent.title
                groups_used.add(id(c.parent))
            made = self.phases_of(
                c.title, c.line, group_title, c.items, c.body, c.markers, rollback, phases
            )
            if made and c.heading:
                c.heading.role = "rollback" if rollback else "phase"
            if (
                not made
                and c.body
                and not rollback
                and self.rollback_plan
                and (is_rollback_heading(c.title))
            ):
                # In a plan titled "Rollback …" the sections are its phases; one that is itself
                # a rollback heading but holds no steps (a numbered list, prose) is still the
                # way back, not a note.
                body = _join(c.body, self.lines)
                late_rollbacks.append(Section(title=c.title, body=body, line=c.line))
                if c.heading:
                    c.heading.role = "rollback"
            elif not made and c.body and not rollback:
                body = _join(c.body, self.lines)
                notes.append(Section(title=c.title, body=body, line=c.line))
                if c.heading:
                    c.heading.role = "note"
                if c.markers:
                    self.warn(c.markers[0][0], "an ops marker outside any step is ignored")
            elif not made and c.markers and not rollback:
                self.warn(c.markers[0][0], "an ops marker outside any step is ignored")
        for c in self.containers:
            # A section holding phases is their group (its own text, if any, is also a note).
            if c.heading and c.heading.role in ("", "note") and id(c) in groups_used:
                c.heading.role = "group"
            elif c.heading and not c.heading.role:
                c.heading.role = "empty"
        title = (
            self.title or str(self.metadata.get("title") or self.metadata.get("name") or "").strip()
        )
        if not title:
            objective = next((n for n in notes if n.title == "Objective"), None)
            if objective:
                title = objective.body.strip().split("\n", 1)[0].strip()
        title = (title or self.default_title or "Untitled plan")[:200]
        plan = ParsedPlan(
            title=title,
            metadata=self.metadata,
            phases=phases,
            rollback=[c.section for c in self.rollbacks if c.section is not None] + late_rollbacks,
            notes=notes,
            warnings=self.warnings,
            outline=self.outline,
            checkboxes_found=count_checkboxes(self.text),
        )
        made = sum(1 for p in phases for s in p.steps if s.source == "checklist")
        if made != plan.checkboxes_found:
            self.warn(
                0,
                f"{plan.checkboxes_found} checkboxes in the file but {made} became steps: "
                "a box inside raw HTML or indented code is not read as a step",
            )
        return plan

    def phases_of(self, title, line, group, items, body, found, rollback, out) -> bool:
        """Append the phases of a section (or of a step that only heads a group); True if any."""
        made = False
        run: list[_Step] = []
        first_run = True

        def flush():
            nonlocal made, first_run
            if run:
                description = _join(body, self.lines) if first_run else ""
                out.append(self.phase(title, line, group, list(run), description, found, rollback))
                made = True
                first_run = False
                run.clear()

        # Numbered and bold steps that only head boxes become phases of their own, when every
        # step of the section does; among other steps they stay steps with sub-steps.
        groups = (
            not rollback
            and bool(items)
            and all(s.source in ("heading", "bold") and s.children and not s.own for s in items)
        )
        for s in items:
            if groups:
                flush()
                if s.heading is not None:
                    s.heading.role = "group"
                for ch in s.children:
                    ch.parent = None
                self.phases_of(
                    s.title, s.line, title, s.children, [], found + s.markers, rollback, out
                )
                made = True
            else:
                run.append(s)
        flush()
        return made

    def phase(self, title, line, group, items, description, found, rollback) -> ParsedPhase:
        steps: list[ParsedStep] = []

        lines = self.lines

        def add(s: _Step, depth: int, parent_idx: int | None, inherited):
            if s.heading is not None:
                s.heading.role = "step"
            idx = len(steps)
            ps = ParsedStep(
                s.title[:MAX_TITLE],
                _join(s.body, lines) if s.body else "",
                s.commands,
                s.checked,
                s.ref,
                s.verify,
                s.source,
                s.line,
                depth,
                parent_idx,
                not rollback,
                False,
                "",
                {},
                [],
                dict(s.fields) if s.fields else {},
            )
            steps.append(ps)
            if s.children:
                for ch in s.children:
                    add(ch, depth + 1, idx, inherited)
            if len(s.title) > MAX_TITLE:
                self.warn(s.line, f"the step title is longer than {MAX_TITLE} characters; cut")
            if not inherited and not s.markers:
                return
            # Phase and group markers one by one; the step's own together (one check per step).
            effects = [markers.apply([d], line) for line, d in inherited]
            if s.markers:
                effects.append(markers.apply([d for _, d in s.markers], s.markers[0][0]))
            ps.markers = [d for _, d in inherited + s.markers]
            for effect in effects:
                ps.requires_second_signoff |= effect.second_signoff
                if effect.optional:
                    ps.required = False
                if effect.check_type:
                    ps.check_type, ps.check_config = effect.check_type, effect.check_config

        for s in items:
            add(s, 0, None, list(found))
        return ParsedPhase(
            title=title, description=description, steps=steps, group=group, line=line,
            rollback=rollback,
        )  # fmt: skip
