"""The parse result: plain dataclasses, independent of the database (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Command:
    """A shell command block of a step. ``output`` is the example output a ``console`` transcript
    showed (never run, shown under the command); it is left out of :meth:`as_dict` when empty."""

    lang: str
    code: str
    output: str = ""

    def as_dict(self) -> dict:
        data = {"lang": self.lang, "code": self.code}
        if self.output:
            data["output"] = self.output
        return data


@dataclass(slots=True)
class ParsedStep:
    title: str
    body: str = ""
    commands: list[Command] = field(default_factory=list)
    checked: bool = False
    ref: str = ""
    verify: str = ""
    #: checklist (a ``- [ ]`` box) | heading | bold | task (GSD ``<task>``) | todo (front matter)
    source: str = "checklist"
    #: 1-based line of the title in the source; 0 for front-matter todos
    line: int = 0
    #: 0 for a top-level step of its phase, 1 for its sub-steps, ...
    depth: int = 0
    #: index in the phase's ``steps`` of the parent step (sub-steps follow their parent)
    parent: int | None = None
    required: bool = True
    requires_second_signoff: bool = False
    check_type: str = ""
    check_config: dict = field(default_factory=dict)
    #: the ``ops:`` directives written on the step, as written
    markers: list[str] = field(default_factory=list)
    #: a GSD task's sub-elements by tag (``files``, ``action``, ``verify``, ``done``,
    #: ``what-built``, ``how-to-verify``, ``resume-signal`` ...) and its attributes (``type``)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def is_checkbox(self) -> bool:
        return self.source == "checklist"

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "body": self.body,
            "commands": [c.as_dict() for c in self.commands],
            "checked": self.checked,
            "ref": self.ref,
            "verify": self.verify,
            "source": self.source,
            "line": self.line,
            "depth": self.depth,
            "parent": self.parent,
            "required": self.required,
            "requires_second_signoff": self.requires_second_signoff,
            "check_type": self.check_type,
            "check_config": dict(self.check_config),
            "markers": list(self.markers),
            "fields": dict(self.fields),
        }


@dataclass
class ParsedPhase:
    title: str
    description: str = ""
    steps: list[ParsedStep] = field(default_factory=list)
    #: the heading this phase sits under (an H2 above H3 phases, a numbered step heading a group)
    group: str = ""
    line: int = 0
    #: steps written inside a rollback section: optional, done only when rolling back
    rollback: bool = False

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "description": self.description,
            "group": self.group,
            "line": self.line,
            "rollback": self.rollback,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass
class Section:
    title: str
    body: str = ""
    line: int = 0

    def as_dict(self) -> dict:
        return {"title": self.title, "body": self.body, "line": self.line}


@dataclass
class Heading:
    """One heading of the source and what it became: title, phase, group, note, rollback, step,
    body (inside a step or a rollback section) or empty."""

    level: int
    title: str
    line: int
    role: str = ""

    def as_dict(self) -> dict:
        return {"level": self.level, "title": self.title, "line": self.line, "role": self.role}


@dataclass
class PlanWarning:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}" if self.line else self.message

    def as_dict(self) -> dict:
        return {"line": self.line, "message": self.message}


@dataclass
class ParsedPlan:
    title: str
    metadata: dict = field(default_factory=dict)
    phases: list[ParsedPhase] = field(default_factory=list)
    rollback: list[Section] = field(default_factory=list)
    notes: list[Section] = field(default_factory=list)
    warnings: list[PlanWarning] = field(default_factory=list)
    outline: list[Heading] = field(default_factory=list)
    #: ``- [ ]`` / ``- [x]`` boxes found in the source (each is one checklist step)
    checkboxes_found: int = 0

    @property
    def step_count(self) -> int:
        return sum(len(p.steps) for p in self.phases)

    def steps(self):
        for phase in self.phases:
            yield from phase.steps

    def counts(self) -> dict:
        steps = list(self.steps())
        return {
            "phases": len(self.phases),
            "steps": len(steps),
            "sub_steps": sum(1 for s in steps if s.depth),
            "checkboxes_found": self.checkboxes_found,
            "checkbox_steps": sum(1 for s in steps if s.is_checkbox),
            "commands": sum(len(s.commands) for s in steps),
            "second_signoff": sum(1 for s in steps if s.requires_second_signoff),
            "checks": sum(1 for s in steps if s.check_type),
            "rollback_sections": len(self.rollback),
            "notes": len(self.notes),
            "warnings": len(self.warnings),
        }

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "metadata": self.metadata,
            "phases": [p.as_dict() for p in self.phases],
            "rollback": [r.as_dict() for r in self.rollback],
            "notes": [n.as_dict() for n in self.notes],
            "warnings": [w.as_dict() for w in self.warnings],
            "outline": [h.as_dict() for h in self.outline],
            "counts": self.counts(),
        }
