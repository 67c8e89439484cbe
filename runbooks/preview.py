"""What an import would store, shown before it is saved: the tree, counts, warnings and the diff.

Used by the import pages and by ``manage.py import_runbook`` (its default output and ``--json``).
Nothing here writes: :func:`build` parses the text with the same parser the import service uses
and compares the result with the runbook's latest version.

The parse result is read through its dict form (``ParsedPlan.to_dict()``, documented in the
parser package's docstring): phases with their ``group`` and ``rollback`` flag, steps with
``depth`` / ``parent`` (sub-steps follow their parent), ``required``, the markers' effect
(``requires_second_signoff``, ``check_type`` / ``check_config``), the parser's ``warnings``,
``outline`` (what each heading became) and ``counts``.

The parser counts the checkboxes of the source by a line pattern of its own; should a parse
result come without that count, they are counted here on markdown-it-py's token stream
(CommonMark list items starting with ``[ ]`` / ``[x]``), so the preview can always say when a box
in the file did not become a signable step.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field

from django.core.exceptions import ValidationError
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from opsportal.audit.masking import scrub_text

from . import plans as plan_parser
from .models import Runbook, RunbookVersion

MAX_TEXT_DIFF_LINES = 2000
LONG_TITLE = 160
CHECKBOX_SOURCES = {"checklist", "checkbox", "task_list", "tasklist"}
_BOX_RE = re.compile(r"^\[[ xX]\](?:\s|$)")


@dataclass
class StepNode:
    title: str
    ref: str = ""
    body: str = ""
    commands: list[dict] = field(default_factory=list)
    checked: bool = False
    source: str = ""
    second_signoff: bool = False
    check_type: str = ""
    check_config: dict = field(default_factory=dict)
    depth: int = 0
    required: bool = True
    line: int = 0
    children: list[StepNode] = field(default_factory=list)


@dataclass
class PhaseNode:
    title: str
    groups: list[str] = field(default_factory=list)
    description: str = ""
    steps: list[StepNode] = field(default_factory=list)
    rollback: bool = False
    line: int = 0


@dataclass
class Preview:
    title: str
    source_name: str
    sha256: str
    phases: list[PhaseNode]
    counts: dict
    warnings: list[str]
    errors: list[str]
    rollback: list[dict]
    notes: list[dict]
    metadata: dict
    outline: list[dict] = field(default_factory=list)
    diff: dict | None = None
    plan: dict = field(default_factory=dict)  # the parse result, as ``ParsedPlan.to_dict()``

    @property
    def can_save(self) -> bool:
        return not self.errors

    def rows(self) -> list[dict]:
        """The tree flattened for a template: group headings, phases and (sub-)steps in order."""
        out: list[dict] = []
        shown: list[str] = []
        for number, phase in enumerate(self.phases, start=1):
            for level, group in enumerate(phase.groups):
                if shown[: level + 1] != phase.groups[: level + 1]:
                    out.append({"kind": "group", "title": group, "level": level})
            shown = list(phase.groups)
            out.append(
                {"kind": "phase", "phase": phase, "number": number, "level": len(phase.groups)}
            )
            for step in walk(phase.steps):
                out.append({"kind": "step", "step": step, "level": len(phase.groups)})
        return out

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "source_name": self.source_name,
            "sha256": self.sha256,
            "counts": self.counts,
            "warnings": self.warnings,
            "errors": self.errors,
            "tree": [asdict(p) for p in self.phases],
            "outline": self.outline,
            "diff": self.diff,
        }


def walk(steps: list[StepNode]):
    for step in steps:
        yield step
        yield from walk(step.children)


# --- reading the parse result -----------------------------------------------------------------
def _commands(raw) -> list[dict]:
    out = []
    for c in raw or []:
        cmd = {"lang": c.get("lang") or "", "code": c.get("code") or ""}
        if c.get("output"):
            cmd["output"] = c["output"]
        out.append(cmd)
    return out


def _check_config(check_type: str, config: dict) -> dict:
    """The check's configuration as the import will store it (defaults filled in)."""
    if not check_type:
        return {}
    from .services import check_config_clean

    try:
        return check_config_clean(check_type, config)
    except ValidationError:
        return config


def _step_node(d: dict) -> StepNode:
    """A step from ``ParsedStep.as_dict()`` (or a stored step in the same keys)."""
    return StepNode(
        title=d.get("title") or "",
        ref=str(d.get("ref") or ""),
        body=d.get("body") or "",
        commands=_commands(d.get("commands")),
        checked=bool(d.get("checked")),
        source=d.get("source") or "",
        second_signoff=bool(d.get("requires_second_signoff")),
        check_type=d.get("check_type") or "",
        check_config=_check_config(d.get("check_type") or "", dict(d.get("check_config") or {})),
        depth=int(d.get("depth") or 0),
        required=d.get("required", True) is not False,
        line=int(d.get("line") or 0),
    )


def _nest(flat: list[dict]) -> list[StepNode]:
    """A phase's flat step list as a tree: by ``parent`` (an index into the list) where given,
    else by ``depth`` (sub-steps follow their parent)."""
    nodes = [_step_node(d) for d in flat]
    roots: list[StepNode] = []
    stack: list[StepNode] = []
    for d, node in zip(flat, nodes, strict=True):
        parent = d.get("parent")
        if isinstance(parent, int) and 0 <= parent < len(nodes) and nodes[parent] is not node:
            nodes[parent].children.append(node)
            continue
        while stack and stack[-1].depth >= node.depth:
            stack.pop()
        (stack[-1].children if stack and node.depth else roots).append(node)
        stack.append(node)
    return roots


def _groups(group) -> list[str]:
    if not group:
        return []
    return [group] if isinstance(group, str) else [str(g) for g in group if g]


def phases_from_plan(data: dict) -> list[PhaseNode]:
    return [
        PhaseNode(
            title=p.get("title") or "",
            groups=_groups(p.get("group")),
            description=p.get("description") or "",
            steps=_nest(p.get("steps") or []),
            rollback=bool(p.get("rollback")),
            line=int(p.get("line") or 0),
        )
        for p in data.get("phases") or []
    ]


def phases_from_version(version: RunbookVersion) -> list[PhaseNode]:
    """The stored version in the same shape, for the diff."""
    phases = []
    for phase in version.phases.prefetch_related("steps"):
        steps = list(phase.steps.all())
        index = {s.pk: i for i, s in enumerate(steps)}
        flat = [
            {
                "title": s.title,
                "ref": s.ref,
                "body": s.body,
                "commands": s.commands,
                "checked": s.initially_checked,
                "required": s.required,
                "requires_second_signoff": s.requires_second_signoff,
                "check_type": s.check_type,
                "check_config": s.check_config,
                "depth": getattr(s, "depth", 0),
                "parent": index.get(getattr(s, "parent_id", None)),
                "source": "stored",
            }
            for s in steps
        ]
        phases.append(
            PhaseNode(
                title=phase.title,
                groups=_groups(getattr(phase, "group", "")),
                description=phase.description,
                steps=_nest(flat),
                rollback=bool(getattr(phase, "rollback", False)),
            )
        )
    return phases


# --- counts and warnings ----------------------------------------------------------------------
def source_checkboxes(text: str) -> int:
    """``- [ ]`` / ``- [x]`` / ``1. [ ]`` list items in the source, at any depth.

    Boxes inside fenced or indented code are not items, so they are not counted.
    """
    md = MarkdownIt("commonmark").use(front_matter_plugin)
    tokens = md.parse(text)
    count = 0
    for i, tok in enumerate(tokens):
        if tok.type != "list_item_open":
            continue
        j = i + 1
        if j < len(tokens) and tokens[j].type == "paragraph_open":
            j += 1
        if j < len(tokens) and tokens[j].type == "inline" and _BOX_RE.match(tokens[j].content):
            count += 1
    return count


def _counts(phases: list[PhaseNode], data: dict, text: str) -> dict:
    steps = [s for p in phases for s in walk(p.steps)]
    groups = {tuple(p.groups[: i + 1]) for p in phases for i in range(len(p.groups))}
    found = (data.get("counts") or {}).get("checkboxes_found")
    return {
        "phase_groups": len(groups),
        "phases": len(phases),
        "steps": len(steps),
        "sub_steps": sum(1 for s in steps if s.depth > 0),
        "optional": sum(1 for s in steps if not s.required),
        "rollback_steps": sum(len(list(walk(p.steps))) for p in phases if p.rollback),
        "checkboxes_found": found if isinstance(found, int) else source_checkboxes(text),
        "checkbox_steps": sum(1 for s in steps if s.source in CHECKBOX_SOURCES),
        "checked": sum(1 for s in steps if s.checked),
        "commands": sum(len(s.commands) for s in steps),
        "checks": sum(1 for s in steps if s.check_type),
        "second_signoff": sum(1 for s in steps if s.second_signoff),
        "rollback_sections": len(data.get("rollback") or []),
        "notes": len(data.get("notes") or []),
    }


def _parser_warnings(data: dict) -> list[str]:
    out = []
    for w in data.get("warnings") or []:
        if isinstance(w, dict):
            line = w.get("line")
            msg = str(w.get("message", "") or w.get("text", ""))
            out.append(f"Line {line}: {msg}" if line else msg)
        else:
            out.append(str(w))
    return [w for w in out if w]


def _warnings(phases: list[PhaseNode], counts: dict, data: dict) -> list[str]:
    warnings = _parser_warnings(data)
    found, made = counts["checkboxes_found"], counts["checkbox_steps"]
    if found != made and not any("box" in w.lower() for w in warnings):
        warnings.append(
            f"The source has {found} checkbox{'es' if found != 1 else ''} but "
            f"{made} became checkbox step{'s' if made != 1 else ''}: "
            + (
                "some boxes are kept as text in a step's body."
                if found > made
                else "some steps were made from boxes the count did not find."
            )
        )
    for phase in phases:
        titles = Counter(s.title.strip().casefold() for s in walk(phase.steps))
        dups = sorted(t for t, n in titles.items() if n > 1 and t)
        if dups:
            warnings.append(
                f"“{phase.title}” has steps with the same title ({', '.join(dups[:3])}): "
                "the run and a later diff tell them apart by position only."
            )
        for s in walk(phase.steps):
            if not s.title.strip() or s.title.strip() in ("Task", "Step"):
                warnings.append(f"A step in “{phase.title}” has no title of its own.")
            elif len(s.title) > LONG_TITLE:
                warnings.append(
                    f"A step title in “{phase.title}” is {len(s.title)} characters long "
                    f"(“{s.title[:60]}…”): did text after the title end up in it?"
                )
    if counts["steps"] and not (counts["rollback_sections"] or counts["rollback_steps"]):
        warnings.append("No rollback section was found (a Rollback / Revert / Emergency heading).")
    return warnings


# --- the diff against the latest version ------------------------------------------------------
def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _keyed(items, key):
    """(key, occurrence) for each item, so duplicated titles still pair up in order."""
    seen: Counter = Counter()
    out = {}
    for item in items:
        k = key(item)
        out[(k, seen[k])] = item
        seen[k] += 1
    return out


def _step_key(s: StepNode) -> str:
    return f"ref:{s.ref}" if s.ref else _norm(s.title)


def _step_changes(old: StepNode, new: StepNode) -> list[str]:
    fields = []
    if old.title != new.title:
        fields.append("title")
    if old.body.strip() != new.body.strip():
        fields.append("body")
    if old.commands != new.commands:
        fields.append("commands")
    if old.checked != new.checked:
        fields.append("checked")
    if old.second_signoff != new.second_signoff:
        fields.append("second sign-off")
    if old.check_type != new.check_type or (
        new.check_type and old.check_config != new.check_config
    ):
        fields.append("check")
    if old.depth != new.depth:
        fields.append("nesting")
    return fields


def diff(old: list[PhaseNode], new: list[PhaseNode]) -> dict:
    """Phases and steps added, removed, changed or moved, matched by ref or title."""
    old_p = _keyed(old, lambda p: _norm(p.title))
    new_p = _keyed(new, lambda p: _norm(p.title))
    result: dict = {
        "phases_added": [p.title for k, p in new_p.items() if k not in old_p],
        "phases_removed": [p.title for k, p in old_p.items() if k not in new_p],
        "phases_changed": [],
        "steps_added": [],
        "steps_removed": [],
        "steps_changed": [],
        "steps_moved": [],
    }
    added: list[tuple[str, StepNode]] = []
    removed: list[tuple[str, StepNode]] = []
    for k, p in new_p.items():
        if k not in old_p:
            added += [(p.title, s) for s in walk(p.steps)]
            continue
        o = old_p[k]
        if o.description.strip() != p.description.strip() or o.groups != p.groups:
            result["phases_changed"].append(p.title)
        o_steps = _keyed(walk(o.steps), _step_key)
        n_steps = _keyed(walk(p.steps), _step_key)
        for sk, s in n_steps.items():
            if sk not in o_steps:
                added.append((p.title, s))
            elif changes := _step_changes(o_steps[sk], s):
                result["steps_changed"].append(
                    {"phase": p.title, "title": s.title, "fields": changes}
                )
        removed += [(o.title, s) for sk, s in o_steps.items() if sk not in n_steps]
    for k, o in old_p.items():
        if k not in new_p:
            removed += [(o.title, s) for s in walk(o.steps)]
    # A step that left one phase and arrived in another has moved.
    pool = _keyed(removed, lambda r: _step_key(r[1]))
    seen: Counter = Counter()
    for phase, s in added:
        key = (_step_key(s), seen[_step_key(s)])
        seen[_step_key(s)] += 1
        if key in pool and _norm(pool[key][0]) != _norm(phase):
            old_phase, old_step = pool.pop(key)
            fields = _step_changes(old_step, s)
            result["steps_moved"].append(
                {"title": s.title, "from": old_phase, "to": phase, "fields": fields}
            )
        else:
            result["steps_added"].append({"phase": phase, "title": s.title})
    result["steps_removed"] = [{"phase": ph, "title": s.title} for ph, s in pool.values()]
    result["unchanged"] = not any(v for v in result.values())
    return result


def text_diff(old_text: str, new_text: str, old_label: str, new_label: str) -> list[str]:
    lines = list(
        difflib.unified_diff(
            old_text.splitlines(), new_text.splitlines(), old_label, new_label, lineterm="", n=2
        )
    )
    if len(lines) > MAX_TEXT_DIFF_LINES:
        cut = len(lines) - MAX_TEXT_DIFF_LINES
        lines = [*lines[:MAX_TEXT_DIFF_LINES], f"… {cut} more lines of diff not shown"]
    return lines


def version_diff(base: RunbookVersion, phases: list[PhaseNode], text: str, label: str) -> dict:
    data = diff(phases_from_version(base), phases)
    data["base"] = base.number
    # The stored source is masked as the preview's text is; the stored digest may be of the
    # unmasked file (a command line import).
    data["same_source"] = base.source == text or RunbookVersion.digest(text) == base.sha256
    data["text"] = text_diff(base.source, text, f"v{base.number}", label)
    return data


# --- the whole preview ------------------------------------------------------------------------
def build(
    text: str, *, source_name: str = "", runbook: Runbook | None = None, masked: bool = False
) -> Preview:
    """Parse ``text`` and describe what saving it would store.

    The text is masked first (``scrub_text``), as the import stores it; pass ``masked=True`` when
    the caller already did. Raises :class:`runbooks.plans.PlanParseError` when the text cannot be
    read as a plan.
    """
    if not masked:
        text = scrub_text(text)
    plan = plan_parser.parse(text, default_title=source_name.rsplit(".", 1)[0])
    data = plan.to_dict()
    phases = phases_from_plan(data)
    counts = _counts(phases, data, text)
    errors = []
    if not counts["steps"]:
        errors.append("The plan has no steps: add - [ ] items, numbered steps or <task> blocks.")
    preview = Preview(
        title=plan.title,
        source_name=source_name,
        sha256=RunbookVersion.digest(text),
        phases=phases,
        counts=counts,
        warnings=_warnings(phases, counts, data),
        errors=errors,
        rollback=list(data.get("rollback") or []),
        notes=list(data.get("notes") or []),
        metadata=dict(data.get("metadata") or {}),
        outline=list(data.get("outline") or []),
        plan=data,
    )
    base = runbook.latest_version() if runbook is not None else None
    if base is not None:
        preview.diff = version_diff(base, phases, text, source_name or "new")
        if preview.diff["same_source"]:
            preview.warnings.append(
                f"The text is the same as v{base.number}: saving makes a version that changes "
                "nothing."
            )
    counts["warnings"] = len(preview.warnings)
    return preview


def tree_text(preview: Preview) -> list[str]:
    """The tree as indented lines, for the command line."""
    lines = []
    for row in preview.rows():
        pad = "  " * row["level"]
        if row["kind"] == "group":
            lines.append(f"{pad}§ {row['title']}")
        elif row["kind"] == "phase":
            p = row["phase"]
            tag = "  (rollback: done only when rolling back)" if p.rollback else ""
            lines.append(f"{pad}{row['number']}. {p.title}{tag}")
        else:
            s = row["step"]
            box = "[x]" if s.checked else "[ ]"
            flags = []
            if s.commands:
                flags.append(f"{len(s.commands)} command{'s' if len(s.commands) > 1 else ''}")
            if s.check_type:
                flags.append(f"check {s.check_type}")
            if s.second_signoff:
                flags.append("second sign-off")
            if not s.required:
                flags.append("optional")
            if s.source and s.source not in CHECKBOX_SOURCES:
                flags.append(f"from {s.source}")
            if s.ref:
                flags.append(f"ref {s.ref}")
            extra = f"  ({', '.join(flags)})" if flags else ""
            lines.append(f"{pad}{'  ' * (s.depth + 1)}{box} {s.title}{extra}")
    return lines
