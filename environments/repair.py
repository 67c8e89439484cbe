"""Repair what the inventory stored in the clear before the classifier knew better.

Run by the data migration ``0005_reclassify_stored_values``. Every public variable is judged again
by :func:`opsportal.credentials.classify`; a credential becomes fingerprint + kind + hint (its
value dropped), with an audit event per variable that names the reason and never the value.
Change requests holding such a value in their payload get the same treatment. The earlier audit
events that quoted the value are redacted (``opsportal.audit.services.audit_redact_text``), so
the value is nowhere in the database afterwards.
"""

from django.db import transaction

from opsportal import credentials
from opsportal.audit.services import audit_redact_text, record

from .payloads import value_state

STATE = ("is_secret", "value", "fingerprint", "value_kind", "hint", "detail")
REASON = "stored in the clear before the classifier recognised it as a credential"


def _secret_state(key: str, state: dict) -> dict | None:
    """The state with its clear value turned into a fingerprint, or None when it may stay."""
    if not state or state.get("is_secret") or not state.get("value"):
        return None
    if not credentials.classify(key, state["value"]).secret:
        return None
    return {**state, **value_state(key, state["value"], is_secret=True)}


def reclassify_stored_values(apps) -> dict:
    ConfigVar = apps.get_model("environments", "ConfigVar")
    ChangeRequest = apps.get_model("environments", "ChangeRequest")
    leaked: set[str] = set()
    variables = 0
    for var in (
        ConfigVar.objects.filter(is_secret=False, has_value=True)
        .exclude(value="")
        .select_related("environment__project")
        .iterator(chunk_size=500)
    ):
        verdict = credentials.classify(var.key, var.value)
        if not verdict.secret:
            continue
        state = value_state(var.key, var.value, is_secret=True)
        leaked.add(var.value)
        with transaction.atomic():
            for field in ("is_secret", "value", "fingerprint", "value_kind", "hint", "detail"):
                setattr(var, field, state[field])
            var.save(
                update_fields=["is_secret", "value", "fingerprint", "value_kind", "hint", "detail"]
            )
            record(
                actor=None,
                action="configvar.reclassified",
                target_type="environments.configvar",
                target_id=var.pk,
                target_repr=f"{var.environment.project.name} / {var.environment.name} / {var.key}",
                environment=var.environment,
                changes={
                    "key": var.key,
                    "is_secret": True,
                    "value_kind": state["value_kind"],
                    "fingerprint": state["fingerprint"][:16],
                    "reason": verdict.reason,
                },
                message=REASON,
            )
        variables += 1

    requests = 0
    for cr in ChangeRequest.objects.select_related("environment").iterator(chunk_size=200):
        ops, changed = [], False
        for op in (cr.payload or {}).get("vars", []):
            new = dict(op)
            for side in ("before", "after"):
                fixed = _secret_state(op.get("key", ""), op.get(side) or {})
                if fixed is not None:
                    leaked.add(op[side]["value"])
                    new[side], changed = fixed, True
            ops.append(new)
        if not changed:
            continue
        with transaction.atomic():
            cr.payload = {**cr.payload, "vars": ops}
            cr.save(update_fields=["payload"])
            record(
                actor=None,
                action="changerequest.payload.reclassified",
                target_type="environments.changerequest",
                target_id=cr.pk,
                target_repr=f"Change request #{cr.pk}",
                environment=cr.environment,
                message=REASON,
            )
        requests += 1

    redacted = 0
    for value in sorted(leaked):
        redacted += audit_redact_text(actor=None, text=value, reason=REASON)
    return {"variables": variables, "change_requests": requests, "audit_fields_redacted": redacted}
