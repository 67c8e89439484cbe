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
    # The shape the input was read as ("vercel env pull", "convex env list", ...), the tool
    # bookkeeping left out and the lines where a value may not be what its writer meant:
    # lists of {"line", "key", "reason" | "message"}, never a value.
    read_as: str = ""
    skipped: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "environment": self.environment_id,
            "format": self.fmt,
            "read_as": self.read_as,
            "skipped": self.skipped,
            "warnings": self.warnings,
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
    keep_tool_vars: bool = False,
) -> ImportPlan:
    """Parse and compare; writes nothing. Raises ``ValidationError`` naming the bad line.

    Tool bookkeeping (``VERCEL_ENV``, ``TURBO_*``, ``DOPPLER_CONFIG`` ...) is skipped and listed
    unless ``keep_tool_vars``. A Vercel API listing is read for the environment's tier.
    """
    if len(text.encode("utf-8")) > parsers.MAX_BYTES:
        raise ValidationError(f"The text is larger than {parsers.MAX_BYTES // 1024} KB.")
    try:
        reading = parsers.read(
            text,
            fmt,
            filename,
            keep_tool_vars=keep_tool_vars,
            target=vercel_target(environment),
        )
    except parsers.ParseError as exc:
        raise ValidationError(str(exc)) from None
    entries = reading.entries
    if not entries:
        skipped = f" ({len(reading.skipped)} skipped)" if reading.skipped else ""
        raise ValidationError(f"No variables found in the input{skipped}.")
    secret_keys, public_keys = set(secret_keys), set(public_keys)
    # An environment not created yet (a dry run of the command) compares against nothing.
    existing = {v.key: v for v in environment.variables.all()} if environment.pk else {}
    plan = ImportPlan(
        environment_id=environment.pk,
        fmt=reading.shape,
        payload={"vars": []},
        remove_missing=remove_missing,
        read_as=reading.label,
        skipped=reading.skipped,
        warnings=reading.warnings,
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


def vercel_target(environment: Environment) -> str:
    """The Vercel target whose values an import into ``environment`` takes from an API list."""
    return {"production": "production", "preview": "preview", "staging": "preview"}.get(
        environment.tier, "development"
    )


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
