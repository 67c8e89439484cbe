"""The public form of a variable's state and of a change to it.

A payload op is ``{"op": create|update|rotate|delete, "key": K, "before": state, "after": state}``
where a state holds the fields of :data:`SNAPSHOT_FIELDS`: for a secret its fingerprint, kind,
hint and public detail, never its value. Payloads are what change requests store and what
``services._apply`` writes.
"""

from .choices import ValueKind
from .kinds import describe
from .models import ConfigVar

STATE_FIELDS = ("is_secret", "has_value", "value", "fingerprint", "value_kind", "hint", "detail")
META_FIELDS = (
    "required",
    "description",
    "example",
    "owner",
    "source",
    "rotation_period_days",
)
SNAPSHOT_FIELDS = STATE_FIELDS + META_FIELDS


def snapshot(var: ConfigVar | None) -> dict | None:
    if var is None:
        return None
    return {f: getattr(var, f) for f in SNAPSHOT_FIELDS}


def value_state(key: str, value: str, *, is_secret: bool | None = None) -> dict:
    """The storable form of a value: the clear value only when it is not secret.

    ``is_secret=False`` (an operator's "public", ``--public``) is honoured only when the value's
    own shape is not a credential: a URL with a password or a ``sk_live_`` key is stored as a
    fingerprint anyway, and the state says why (``forced``), for the preview to show.
    """
    info = describe(key, value)
    secret = info.secret if is_secret is None else is_secret
    forced = ""
    if not secret and info.forced:
        secret, forced = True, f"stored as a fingerprint: {info.reason}"
    state = {
        "is_secret": secret,
        "has_value": True,
        "value": "" if secret else value,
        "fingerprint": info.fingerprint,
        "value_kind": info.kind,
        "hint": info.hint if secret else "",
        "detail": info.detail,
    }
    if forced:
        state["forced"] = forced
    return state


def enforce_secret(key: str, state: dict) -> dict:
    """A state about to be written, with a credential-shaped clear value turned into a secret.

    The last guard before the inventory: payloads prepared earlier, or built by hand, cannot put
    a credential in ``ConfigVar.value``.
    """
    if state.get("is_secret") or not state.get("value"):
        return state
    info = describe(key, state["value"])
    if not info.forced:
        return state
    return {**state, **value_state(key, state["value"])}


def _same_value(a: dict | None, b: dict | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a["has_value"], a["fingerprint"], a["is_secret"]) == (
        b["has_value"],
        b["fingerprint"],
        b["is_secret"],
    )


def public_change(op: dict) -> dict:
    """An op as pages and audit rows may show it: no value of a secret, ever."""

    def side(state):
        if state is None:
            return None
        shown = {k: state.get(k) for k in ("is_secret", "value_kind", "hint", "detail", "required")}
        shown["fingerprint"] = (state.get("fingerprint") or "")[:16]
        kind = state.get("value_kind") or ""
        shown["kind_label"] = ValueKind(kind).label if kind in ValueKind.values else kind
        if not state.get("is_secret"):
            shown["value"] = state.get("value", "")
        if state.get("forced"):
            shown["forced"] = state["forced"]
        return shown

    out = {"op": op["op"], "key": op["key"], "before": side(op.get("before"))}
    out["after"] = side(op.get("after"))
    if op["op"] in ("update", "rotate") and op.get("before") and op.get("after"):
        changed_value = op["before"]["fingerprint"] != op["after"]["fingerprint"]
        out["value_changed"] = changed_value
        out["fingerprint_changed"] = changed_value and (
            op["before"]["is_secret"] or op["after"]["is_secret"]
        )
        out["fields"] = sorted(
            f for f in (*META_FIELDS, "is_secret") if op["before"].get(f) != op["after"].get(f)
        )
        # The metadata that changed, both sides, so the audit event reads "owner: ana → budi"
        # (free text in them was masked when it was typed).
        for field in out["fields"]:
            if field in META_FIELDS:
                out["before"][field] = op["before"].get(field)
                out["after"][field] = op["after"].get(field)
    return out
