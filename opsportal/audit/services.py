"""The one writer of the audit trail.

Every service calls :func:`record` inside its own ``transaction.atomic`` block, so the audit row
commits or rolls back together with the change it describes.
"""

import json
import logging
from collections.abc import Iterable
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from .chain import GENESIS_HASH, compute_hash
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
        }
        fields["hash"] = compute_hash(fields)
        event = AuditEvent(**fields)
        event.save(force_insert=True)
        head.seq, head.hash, head.at = event.seq, event.hash, event.at
        head.save(update_fields=["seq", "hash", "at"])
    logger.info("audit %s #%s by %s on %s", action, event.seq, label, fields["target_repr"] or "-")
    return event


def chain_head() -> AuditChainHead:
    return AuditChainHead.objects.filter(pk=1).first() or AuditChainHead(seq=0, hash=GENESIS_HASH)
