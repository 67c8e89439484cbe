"""Bulk-fill the audit trail with a valid chain, for benchmarks and manual tests at scale.

Not a service: it writes only synthetic history, bypassing `record()` for speed (COPY on
PostgreSQL), but it hashes every event exactly as `record()` does (format 2: a random salt, field
commitments, ``compute_hash``), so `audit_verify` holds and any seeded event can be redacted.
"""

import json
import random
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from .chain import ROW_FIELDS, compute_hash
from .models import AuditChainHead, AuditEvent

ACTIONS = (
    "configvar.updated",
    "configvar.created",
    "configvar.rotated",
    "changerequest.created",
    "changerequest.approved",
    "runbook.step.signed_off",
    "runbook.run.started",
    "import.job.started",
    "auth.login.succeeded",
    "auth.login.failed",
)
COLUMNS = (*ROW_FIELDS, "hash")


def _events(
    count: int,
    *,
    start_seq: int,
    prev_hash: str,
    head_at,
    actors: list,
    environments: list,
    days: int,
) -> Iterator[dict]:
    rng = random.Random(start_seq)
    now = timezone.now()
    start = max(now - timedelta(days=days), head_at) if head_at else now - timedelta(days=days)
    step = (now - start) / max(count, 1)
    for i in range(count):
        actor = rng.choice(actors) if actors else None
        env = rng.choice(environments) if environments and rng.random() < 0.7 else None
        action = rng.choice(ACTIONS)
        fields = {
            "seq": start_seq + i,
            "at": start + step * i,
            "actor_id": actor.pk if actor else None,
            "actor_label": actor.username if actor else "system",
            "action": action,
            "target_type": "environments.configvar",
            "target_id": str(rng.randint(1, 5000)),
            "target_repr": f"VAR_{rng.randint(1, 400)}",
            "environment_id": env.pk if env else None,
            "tier": env.tier if env else "",
            "changes": {"field": {"before": "a", "after": "b"}},
            "message": "",
            "ip": "10.0.0.1",
            "user_agent": "seed_scale",
            "request_id": f"seed{start_seq + i}",
            "job_id": None,
            "prev_hash": prev_hash,
            "salt": secrets.token_hex(16),
            "redactions": None,
        }
        fields["hash"] = prev_hash = compute_hash(fields)
        yield fields


def seed_audit_events(
    count: int,
    *,
    actors: list,
    environments: list,
    days: int = 365,
    batch: int = 20_000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Append ``count`` synthetic events after the current chain head; returns the new head seq."""
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        rows = _events(
            count,
            start_seq=head.seq + 1,
            prev_hash=head.hash,
            head_at=head.at,
            actors=actors,
            environments=environments,
            days=days,
        )
        last = None
        done = 0
        if connection.vendor == "postgresql":
            table = AuditEvent._meta.db_table
            with connection.cursor() as cur:
                copy_sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
                with cur.cursor.copy(copy_sql) as copy:
                    for fields in rows:
                        values = [fields[c] for c in COLUMNS]
                        values[COLUMNS.index("changes")] = json.dumps(fields["changes"])
                        copy.write_row(values)
                        last = fields
                        done += 1
                        if progress and done % batch == 0:
                            progress(done)
        else:
            chunk = []
            for fields in rows:
                chunk.append(AuditEvent(**fields))
                last = fields
                if len(chunk) >= batch:
                    AuditEvent.objects.bulk_create(chunk)
                    done += len(chunk)
                    chunk = []
                    if progress:
                        progress(done)
            AuditEvent.objects.bulk_create(chunk)
        if last is not None:
            head.seq, head.hash, head.at = last["seq"], last["hash"], last["at"]
            head.save(update_fields=["seq", "hash", "at"])
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute(f"ANALYZE {AuditEvent._meta.db_table}")
        return head.seq
