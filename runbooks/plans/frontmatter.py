"""YAML front matter: read through a loader that refuses aliases and anchors, capped in size.

A YAML alias repeats a node without repeating its text, so 330 bytes of nested aliases expand to
tens of megabytes of metadata (the "billion laughs"). Front matter has no use for them: the loader
refuses the first anchor or alias with its line, and the block itself is limited to
``MAX_FRONT_MATTER`` bytes. Dates and other non-JSON scalars become strings, so the metadata can
be stored as JSON.
"""

from __future__ import annotations

import datetime as dt

import yaml

from .errors import PlanParseError
from .result import ParsedStep

MAX_FRONT_MATTER = 16 * 1024
DONE_STATUSES = {"done", "completed", "complete", "finished", "selesai", "concluído", "x", "true"}


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses anchors (``&a``) and aliases (``*a``), hence merge keys too."""

    first_line = 1  # the plan's line of the front matter's first line

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            alias = isinstance(event, yaml.AliasEvent)
            kind = f"an alias (*{event.anchor})" if alias else f"an anchor (&{event.anchor})"
            line = event.start_mark.line + self.first_line
            raise PlanParseError(
                f"The YAML front matter uses {kind} at line {line}; anchors and aliases are "
                "not allowed in front matter."
            )
        return super().compose_node(parent, index)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def split(lines: list[str]) -> tuple[int, int] | None:
    """``(first, end)`` line indexes of the front matter's content, or None when there is none.

    Front matter opens with ``---`` on the first line and closes with ``---`` or ``...``.
    """
    if not lines or lines[0].rstrip() != "---":
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return 1, i
    return None


def load(text: str, *, first_line: int = 2) -> dict:
    size = len(text.encode("utf-8"))
    if size > MAX_FRONT_MATTER:
        raise PlanParseError(
            f"The YAML front matter is {size / 1024:.1f} KB; front matter is limited to "
            f"{MAX_FRONT_MATTER // 1024} KB."
        )
    if not text.strip():
        return {}
    try:
        loader = _NoAliasLoader(text)
        loader.first_line = first_line
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except PlanParseError:
        raise
    except RecursionError:
        raise PlanParseError("The YAML front matter is nested too deeply.") from None
    except yaml.YAMLError as exc:
        raise PlanParseError(f"The YAML front matter is not valid: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PlanParseError("The YAML front matter must be a mapping of keys to values.")
    return _jsonable(data)


def todo_steps(metadata: dict) -> list[ParsedStep]:
    """A Cursor-style ``todos:`` list (``id``, ``content``, ``status``) as steps."""
    todos = metadata.get("todos")
    steps: list[ParsedStep] = []
    if not isinstance(todos, list):
        return steps
    for i, todo in enumerate(todos, start=1):
        if isinstance(todo, dict):
            title = str(todo.get("content") or todo.get("title") or todo.get("name") or "")
            status = str(todo.get("status", "")).strip().lower()
            ref = str(todo.get("id", i))
        else:
            title, status, ref = str(todo), "", str(i)
        title = title.strip().split("\n", 1)[0]
        if title:
            steps.append(
                ParsedStep(title=title, checked=status in DONE_STATUSES, ref=ref, source="todo")
            )
    return steps
