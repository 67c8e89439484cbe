"""Import planning: parse an input and compare it with an environment. Writes nothing.

The plan is kept in public form only (fingerprints, kinds, hints, clear values of public
variables), so it can be rendered, stored in a session or in a change request.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from opsportal.audit.masking import is_secret_name

from . import parsers
from .kinds import is_public_key
from .models import ConfigVar, Environment
from .payloads import (
    META_FIELDS,
    SNAPSHOT_FIELDS,
    _same_value,
    public_change,
    snapshot,
    value_state,
)


@dataclass
class ImportPlan:
    """What an import would do, in public form (safe to render and to keep in a session)."""

    environment_id: int
    fmt: str
    payload: dict
    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    remove_missing: bool = False

    def as_dict(self) -> dict:
        return {
            "environment": self.environment_id,
            "format": self.fmt,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "remove_missing": self.remove_missing,
        }

    @property
    def has_changes(self) -> bool:
        return bool(self.payload.get("vars"))


def import_plan(
    *,
    environment: Environment,
    text: str,
    fmt: str = "auto",
    filename: str = "",
    remove_missing: bool = False,
    secret_keys=(),
    public_keys=(),
) -> ImportPlan:
    """Parse and compare; writes nothing. Raises ``ValidationError`` naming the bad line."""
    if len(text.encode("utf-8")) > parsers.MAX_BYTES:
        raise ValidationError(f"The text is larger than {parsers.MAX_BYTES // 1024} KB.")
    try:
        entries = parsers.parse(text, fmt, filename)
    except parsers.ParseError as exc:
        raise ValidationError(str(exc)) from None
    if not entries:
        raise ValidationError("No variables found in the input.")
    secret_keys, public_keys = set(secret_keys), set(public_keys)
    # An environment not created yet (a dry run of the command) compares against nothing.
    existing = {v.key: v for v in environment.variables.all()} if environment.pk else {}
    plan = ImportPlan(
        environment_id=environment.pk,
        fmt=fmt if fmt != "auto" else parsers.detect_format(text, filename),
        payload={"vars": []},
        remove_missing=remove_missing,
    )
    seen = set()
    for entry in entries:
        seen.add(entry.key)
        var = existing.get(entry.key)
        before = snapshot(var)
        if isinstance(entry, parsers.Declaration):
            op = _declaration_op(entry, var, before, secret_keys, public_keys)
            if op is None:
                plan.unchanged.append({"key": entry.key, "is_secret": var.is_secret})
                continue
            (plan.added if op["op"] == "create" else plan.changed).append(public_change(op))
            plan.payload["vars"].append(op)
            continue
        if entry.key in secret_keys:
            forced = True
        elif entry.key in public_keys:
            forced = False
        else:
            forced = var.is_secret if var is not None else None
        state = value_state(entry.key, entry.value, is_secret=forced)
        if var is None:
            after = {f: ConfigVar._meta.get_field(f).get_default() for f in META_FIELDS}
            after.update(state)
            op = {"op": "create", "key": entry.key, "before": None, "after": after}
            plan.added.append(public_change(op))
        elif _same_value(before, state) and before["value"] == state["value"]:
            plan.unchanged.append({"key": entry.key, "is_secret": var.is_secret})
            continue
        else:
            op = {"op": "update", "key": entry.key, "before": before, "after": {**before, **state}}
            plan.changed.append(public_change(op))
        plan.payload["vars"].append(op)
    for key in sorted(set(existing) - seen):
        op = {"op": "delete", "key": key, "before": snapshot(existing[key]), "after": None}
        plan.removed.append(public_change(op))
        if remove_missing:
            plan.payload["vars"].append(op)
    return plan


def _declaration_op(decl, var, before, secret_keys, public_keys) -> dict | None:
    """A Markdown inventory row: declare the variable (no value) or update its metadata."""
    meta = {}
    if decl.required is not None:
        meta["required"] = decl.required
    if decl.example:
        meta["example"] = decl.example
    if decl.description:
        meta["description"] = decl.description
    if var is None:
        after = {f: ConfigVar._meta.get_field(f).get_default() for f in SNAPSHOT_FIELDS}
        if decl.key in secret_keys:
            after["is_secret"] = True
        elif decl.key in public_keys or is_public_key(decl.key):
            after["is_secret"] = False
        else:
            after["is_secret"] = is_secret_name(decl.key)
        after.update(meta)
        return {"op": "create", "key": decl.key, "before": None, "after": after}
    after = {**before, **meta}
    if after == before:
        return None
    return {"op": "update", "key": decl.key, "before": before, "after": after}
