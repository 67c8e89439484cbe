"""An event's ``changes`` as a person reads them: a before → after table and the details.

Services record changes in a few shapes, all understood here:

- ``{"field": [before, after]}`` and ``{"field": {"before": x, "after": y}}``;
- a state diff ``{"op": ..., "key": ..., "before": {...}, "after": {...}}`` (a variable:
  ``environments.payloads.public_change``), compared field by field;
- nested groups (``{"fields": {"title": {"before": ..., "after": ...}}}``), flattened as
  ``fields.title``;
- anything else is a detail (``summary``, ``counts.created``, ``author``).

A secret never shows a value: a masked value (``*** fp:…``) or a secret state reads
"fingerprint changed" or "unchanged", and every other string is masked again on the way out.
"""

import json
from dataclasses import dataclass

from .masking import MASK, is_secret_name, scrub_text

FINGERPRINT_CHANGED = "fingerprint changed"
SECRET_UNCHANGED = "secret, unchanged"  # noqa: S105 (words shown, not a value)
SECRET_SET = "secret (not shown)"  # noqa: S105
# A nested group larger than this is one detail (its JSON, shortened), not a row per entry.
MAX_GROUP = 20
MAX_TEXT = 300
# Fields of a secret's state that are the secret's own business: never a row of their own.
_SECRET_STATE_FIELDS = {"value", "fingerprint", "hint"}


@dataclass(frozen=True)
class Row:
    """One line of the before → after table."""

    field: str
    before: str
    after: str
    kind: str  # "changed", "added", "removed", "secret", "same"


@dataclass(frozen=True)
class Detail:
    field: str
    value: str


@dataclass
class Readable:
    rows: list[Row]
    details: list[Detail]

    def __bool__(self) -> bool:
        return bool(self.rows or self.details)


def _is_masked(value) -> bool:
    return isinstance(value, str) and value.startswith(MASK)


def _text(value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if _is_masked(value):
        return SECRET_SET
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    text = scrub_text(text)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _is_pair(value) -> bool:
    return isinstance(value, dict) and "before" in value and "after" in value


def _is_state(value) -> bool:
    return value is None or isinstance(value, dict)


def _pair_row(field: str, before, after, *, secret: bool = False) -> Row:
    named_secret = is_secret_name(field.split(".")[-1]) and any(
        isinstance(v, str) and v for v in (before, after)
    )
    if secret or named_secret or _is_masked(before) or _is_masked(after):
        if before == after:
            return Row(field, SECRET_UNCHANGED, SECRET_UNCHANGED, "same")
        if before in (None, "") and after not in (None, ""):
            return Row(field, "—", "secret set", "secret")
        if after in (None, "") and before not in (None, ""):
            return Row(field, "secret", "—", "secret")
        return Row(field, "secret", FINGERPRINT_CHANGED, "secret")
    if before is None or before == "":
        kind = "added"
    elif after is None or after == "":
        kind = "removed"
    else:
        kind = "changed" if before != after else "same"
    return Row(field, _text(before), _text(after), kind)


def _state_rows(prefix: str, before, after, fingerprint_changed=None) -> list[Row]:
    """A record's state before and after (a variable), field by field."""
    before, after = before or {}, after or {}
    secret = bool(before.get("is_secret") or after.get("is_secret"))
    rows = []
    if secret and (before or after):
        changed = fingerprint_changed
        if changed is None:
            changed = before.get("fingerprint") != after.get("fingerprint")
        if not before:
            rows.append(Row(f"{prefix}value", "—", "secret set", "secret"))
        elif not after:
            rows.append(Row(f"{prefix}value", "secret", "—", "secret"))
        elif changed:
            rows.append(Row(f"{prefix}value", "secret", FINGERPRINT_CHANGED, "secret"))
        else:
            rows.append(Row(f"{prefix}value", SECRET_UNCHANGED, SECRET_UNCHANGED, "same"))
    for name in [*before, *(k for k in after if k not in before)]:
        if secret and name in _SECRET_STATE_FIELDS:
            continue
        b, a = before.get(name), after.get(name)
        if b == a and before and after:
            continue  # unchanged fields of a state: not worth a row
        rows.append(_pair_row(f"{prefix}{name}", b, a))
    return rows


def _walk(prefix: str, changes: dict, rows: list, details: list, depth: int) -> None:
    if (
        _is_pair(changes)
        and _is_state(changes["before"])
        and _is_state(changes["after"])
        and (isinstance(changes["before"], dict) or isinstance(changes["after"], dict))
    ):
        rows.extend(
            _state_rows(
                prefix, changes["before"], changes["after"], changes.get("fingerprint_changed")
            )
        )
        for key, value in changes.items():
            skip = key in ("before", "after", "fingerprint_changed", "value_changed")
            if not skip and value not in ([], {}):  # an empty list of changed fields says nothing
                details.append(Detail(prefix + key, _text(value)))
        return
    if _is_pair(changes) and not any(isinstance(changes[k], dict) for k in ("before", "after")):
        rows.append(_pair_row(prefix.rstrip(".") or "value", changes["before"], changes["after"]))
        changes = {k: v for k, v in changes.items() if k not in ("before", "after")}
    for key, value in changes.items():
        name = f"{prefix}{key}"
        if _is_pair(value):
            if isinstance(value["before"], dict) or isinstance(value["after"], dict):
                _walk(f"{name}.", value, rows, details, depth + 1)
            else:
                rows.append(_pair_row(name, value["before"], value["after"]))
        elif (
            isinstance(value, list)
            and len(value) == 2
            and not any(isinstance(v, dict | list) for v in value)
            and key not in ("fields", "scopes", "keys")
        ):
            rows.append(_pair_row(name, value[0], value[1]))
        elif isinstance(value, dict) and value and len(value) <= MAX_GROUP and depth < 3:
            _walk(f"{name}.", value, rows, details, depth + 1)
        elif _is_masked(value) or (is_secret_name(str(key)) and isinstance(value, str) and value):
            details.append(Detail(name, SECRET_SET))
        else:
            details.append(Detail(name, _text(value)))


def readable(changes) -> Readable:
    """``changes`` (as shown: redacted values already replaced by their note) for people."""
    rows: list[Row] = []
    details: list[Detail] = []
    if isinstance(changes, dict):
        _walk("", changes, rows, details, 0)
    elif changes not in (None, "", [], {}):
        details.append(Detail("changes", _text(changes)))
    return Readable(rows=rows, details=details)
