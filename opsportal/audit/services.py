"""The one writer of the audit trail.

Every service calls :func:`record` inside its own ``transaction.atomic`` block, so the audit row
commits or rolls back together with the change it describes.
"""

import json
import logging
import re
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from opsportal import events
from opsportal.accounts.permissions import require

from .chain import (
    FORMAT,
    GENESIS_HASH,
    REDACTED_ACTION,
    ROW_FIELDS,
    TEXT_FIELDS,
    UPGRADED_ACTION,
    compute_hash,
    format_of,
    path_value,
    redact,
    redactable_paths,
)
from .masking import scrub, scrub_text
from .middleware import current_context
from .models import AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)

SYSTEM_LABEL = "system"


def _lock_head() -> AuditChainHead:
    """Lock the chain head for the rest of the transaction: appends become strictly linear."""
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        # A flushed test database or a hand-made one: create the head, then lock it.
        AuditChainHead.objects.get_or_create(pk=1, defaults={"seq": 0, "hash": GENESIS_HASH})
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def _label(actor) -> str:
    if actor is None:
        return SYSTEM_LABEL
    return actor.get_username()


def record(
    *,
    actor,
    action: str,
    target=None,
    target_type: str = "",
    target_id: str | int = "",
    target_repr: str = "",
    environment=None,
    tier: str = "",
    changes: dict | None = None,
    secret_keys: Iterable[str] = (),
    message: str = "",
    job_id: int | None = None,
    on_behalf_of=None,
) -> AuditEvent:
    """Append one event to the chain.

    ``changes`` is scrubbed before it is stored: entries named in ``secret_keys`` or whose key looks
    secret are replaced by ``***`` and a fingerprint, and credential-shaped strings anywhere are
    masked. ``on_behalf_of`` marks work the system did for an operator (checks, background jobs).
    Must run inside the caller's transaction.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record() must be called inside the service's transaction.atomic")
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or target.pk
        target_repr = target_repr or str(target)
    if environment is not None and not tier:
        tier = environment.tier
    label = _label(actor)
    if on_behalf_of is not None:
        label = f"{SYSTEM_LABEL} on behalf of {on_behalf_of.get_username()}"
        actor = actor or on_behalf_of
    ctx = current_context()
    if ctx.via:
        label = f"{label} via {ctx.via}"
    clean_changes = _jsonable(scrub(changes or {}, secret_keys=frozenset(secret_keys)))

    with transaction.atomic():
        head = _lock_head()
        now = timezone.now()
        if head.at is not None and now < head.at:
            now = head.at  # a clock stepped back: keep `at` non-decreasing along the chain
        fields = {
            "seq": head.seq + 1,
            "at": now,
            "actor_id": actor.pk if actor is not None else None,
            "actor_label": label[:150],
            "action": action,
            "target_type": target_type,
            "target_id": str(target_id)[:64] if target_id != "" else "",
            "target_repr": scrub_text(target_repr)[:300],
            "environment_id": environment.pk if environment is not None else None,
            "tier": tier,
            "changes": clean_changes,
            "message": scrub_text(message),
            "ip": ctx.ip,
            "user_agent": ctx.user_agent,
            "request_id": ctx.request_id,
            "job_id": job_id,
            "prev_hash": head.hash,
            "salt": secrets.token_hex(16),
            "redactions": None,
        }
        fields["hash"] = compute_hash(fields)
        event = AuditEvent(**fields)
        event.save(force_insert=True)
        head.seq, head.hash, head.at = event.seq, event.hash, event.at
        head.save(update_fields=["seq", "hash", "at"])
    logger.info("audit %s #%s by %s on %s", action, event.seq, label, fields["target_repr"] or "-")
    # Subscribers (notifications) hear of it once the caller's transaction commits, never before.
    events.recorded(event)
    return event


def chain_head() -> AuditChainHead:
    return AuditChainHead.objects.filter(pk=1).first() or AuditChainHead(seq=0, hash=GENESIS_HASH)


# --- redaction (docs/audit.md) ----------------------------------------------------------------
REDACT_PERMISSION = "audit.redact_auditevent"
# Paths verification or the service itself reads: never redacted.
_KEPT = {
    REDACTED_ACTION: {"changes.seq", "changes.field"},
    UPGRADED_ACTION: {"changes.old_head_seq", "changes.format", "changes.events"},
}
_ROW = ("id", *ROW_FIELDS, "hash")


def audit_event_redact(*, actor, event: AuditEvent, field: str, reason: str) -> AuditEvent:
    """Redact one field of an audit event (a secret pasted into a reason, personal data under an
    erasure request); returns the event as it now reads.

    ``field`` is ``message``, ``target_repr``, ``actor_label``, ``ip``, ``user_agent`` or
    ``changes.<key>``. The value is replaced by a marker and its commitment kept, so the chain
    still verifies; an ``audit.event.redacted`` event names the event, the field and the reason,
    never the removed text. Redacting an event from before the format 2 upgrade also redacts the
    format 1 head hash the upgrade event keeps (it would let the value be confirmed by brute
    force).
    """
    if actor is not None:  # None is the system: the CLI run by someone with shell access
        require(actor, REDACT_PERMISSION, action="redact audit events")
    field = (field or "").strip()
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this field is redacted."})
    with transaction.atomic():
        _lock_head()
        row = _locked_row(event.pk)
        if row is None:
            raise ValidationError("This audit event does not exist.")
        _redact_one(actor, row, field, reason)
    return AuditEvent.objects.get(pk=row["id"])


def _hide_format_1_head(actor, seq: int) -> None:
    """After redacting a field of event ``seq``: if it was written before the format 2 upgrade,
    redact the format 1 head hash the upgrade event keeps, an unsalted hash of the whole old
    chain that would let the removed value be confirmed by brute force."""
    upgrade = (
        AuditEvent.objects.select_for_update()
        .filter(action=UPGRADED_ACTION, seq__gt=seq)
        .order_by("seq")
        .values(*_ROW)
        .first()
    )
    if (
        upgrade is not None
        and (upgrade["changes"].get("format") or {}).get("after") == FORMAT
        and seq <= (upgrade["changes"].get("old_head_seq") or 0)
        and "old_head_hash" in upgrade["changes"]
        and not _is_redacted(upgrade, "changes.old_head_hash")
    ):
        _redact_one(
            actor,
            upgrade,
            "changes.old_head_hash",
            f"Redacting a field of event #{seq}, written before the format 2 upgrade: the "
            "format 1 head hash would let its value be confirmed by brute force.",
        )


def redactable_fields(event: AuditEvent) -> list[str]:
    """The fields of ``event`` a redaction can still remove (what the redaction form offers)."""
    if format_of({"salt": event.salt, "redactions": event.redactions}) == 1:
        return []
    kept = _KEPT.get(event.action, set())
    fields = {name: getattr(event, name) for name in TEXT_FIELDS}
    fields["changes"] = event.changes if isinstance(event.changes, dict) else {}
    return [
        path
        for path in redactable_paths(fields)
        if path not in kept and not event.is_redacted(path)
    ]


def _locked_row(pk) -> dict | None:
    return AuditEvent.objects.select_for_update().filter(pk=pk).values(*_ROW).first()


def _is_redacted(row: dict, path: str) -> bool:
    return path in ((row.get("redactions") or {}).get("commit") or {})


def _redact_one(actor, row: dict, path: str, reason: str) -> AuditEvent:
    seq = row["seq"]
    if format_of(row) == 1:
        raise ValidationError(
            {
                "field": f"Event #{seq} predates the redactable format (the chain could not be "
                "upgraded, see the audit.chain.upgraded event): it cannot be redacted."
            }
        )
    if _is_redacted(row, path):
        raise ValidationError({"field": f"{path} of event #{seq} is already redacted."})
    if path not in redactable_paths(row):
        raise ValidationError(
            {
                "field": f"{path} of event #{seq} is empty: there is nothing to redact."
                if path in TEXT_FIELDS
                else f"Event #{seq} has no field {path!r} (message, target_repr, actor_label, "
                "ip, user_agent or changes.<key>)."
            }
        )
    if path in _KEPT.get(row["action"], ()):
        raise ValidationError(
            {"field": f"{path} of a {row['action']} event is what verification reads."}
        )
    if compute_hash(row) != row["hash"]:
        raise ValidationError(
            f"Event #{seq} does not match its hash: run audit_verify before redacting it."
        )
    redaction = record(
        actor=actor,
        action=REDACTED_ACTION,
        target_type="audit.auditevent",
        target_id=seq,
        target_repr=f"audit event #{seq}",
        changes={"seq": seq, "field": path},
        message=reason,
    )
    if redaction.changes != {"seq": seq, "field": path}:
        raise ValidationError({"field": f"{path!r} cannot be named in an audit event as it is."})
    entry = {
        "path": path,
        "event": redaction.seq,
        "by": redaction.actor_label,
        "at": redaction.at.isoformat(timespec="seconds"),
    }
    updates = redact(row, path, entry)
    if compute_hash({**row, **updates}) != row["hash"]:  # never write a row that would not verify
        raise RuntimeError(f"redacting {path} of event #{seq} would change its hash")
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:  # overwrite the freed bytes, not only unlink them
            cur.execute("PRAGMA secure_delete = ON")
    AuditEvent.objects.filter(pk=row["id"])._apply_redaction(**updates)
    row.update(updates)
    logger.info("audit field %s of #%s redacted by %s (#%s)", path, seq, entry["by"], redaction.seq)
    _hide_format_1_head(actor, seq)
    return redaction


def attach_redaction_notes(events) -> None:
    """Give redacted events of a page the reasons of their redactions, in one query."""
    wanted = {
        entry.get("event"): event
        for event in events
        if getattr(event, "redactions", None)
        for entry in event.redaction_log
    }
    if not wanted:
        return
    reasons = dict(
        AuditEvent.objects.filter(seq__in=[s for s in wanted if isinstance(s, int)])
        .exclude(message="")
        .values_list("seq", "message")
    )
    for event in events:
        if getattr(event, "redactions", None):
            event._redaction_reasons = reasons


def audit_redact_text(*, actor, text: str, reason: str) -> int:
    """Redact every field of every audit event that quotes ``text``; the number of fields.

    For a value the portal learns too late was a credential (the repair migrations): each event
    field holding it is redacted through the same path as :func:`audit_event_redact`, with its
    own ``audit.event.redacted`` event. Short texts are refused: they would match unrelated
    events.
    """
    if actor is not None:
        require(actor, REDACT_PERMISSION, action="redact audit events")
    if len(text) < 8:
        raise ValidationError("Only texts of 8 characters or more are searched for redaction.")
    # The JSON encoding of `changes` escapes quotes, backslashes and (on SQLite) non-ASCII; a
    # plain fragment narrows the search in SQL, the exact test is below.
    fragment = max(re.findall(r"[A-Za-z0-9_\-.:/@]{6,}", text) or [text], key=len)[:64]
    candidates = (
        AuditEvent.objects.annotate(changes_text=Cast("changes", TextField()))
        .filter(
            Q(changes_text__contains=fragment)
            | Q(message__contains=fragment)
            | Q(target_repr__contains=fragment)
            | Q(actor_label__contains=fragment)
            | Q(user_agent__contains=fragment)
        )
        .exclude(action=REDACTED_ACTION)
        .order_by("seq")
        .values_list("pk", flat=True)
    )
    redacted = 0
    with transaction.atomic():
        _lock_head()
        for pk in list(candidates):
            row = _locked_row(pk)
            if row is None or format_of(row) == 1:
                continue
            for path in redactable_paths(row):
                if _is_redacted(row, path) or path in _KEPT.get(row["action"], ()):
                    continue
                value = path_value(row, path)
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                if text in (shown or ""):
                    _redact_one(actor, row, path, reason)
                    redacted += 1
    return redacted


# --- verification outcome -----------------------------------------------------------------------
VERIFY_FAILED_ACTION = "audit.chain.verify_failed"


def chain_verification_failed(*, result, via: str) -> AuditEvent:
    """Record that a verification found the chain broken (``result`` of ``verify_chain``).

    The event names the first broken event and why, never its content; subscribers (the admins'
    notifications) hear of it after it commits. ``via`` says what verified: the command or the
    daily task.
    """
    broken = result.broken
    with transaction.atomic():
        return record(
            actor=None,
            action=VERIFY_FAILED_ACTION,
            target_type="audit.auditevent",
            target_id=broken.seq if broken else "",
            target_repr=f"audit event #{broken.seq}" if broken else "audit chain",
            changes={
                "broken_seq": broken.seq if broken else None,
                "reason": broken.reason if broken else "",
                "checked": result.checked,
                "via": via,
            },
        )


CHECKPOINT_FAILED_ACTION = "audit.checkpoint.failed"


def checkpoint_failed(*, reason: str, via: str) -> AuditEvent:
    """Record that a signed checkpoint could not be written or no longer holds (``reason``, as
    ``opsportal.audit.checkpoints`` words it); admins hear of it after it commits."""
    with transaction.atomic():
        return record(
            actor=None,
            action=CHECKPOINT_FAILED_ACTION,
            target_type="audit.checkpoint",
            target_repr="audit checkpoints",
            changes={"reason": reason, "via": via},
            message=reason,
        )
