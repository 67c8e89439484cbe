"""Upgrade a format 1 chain to format 2, the redactable format (migration 0006 runs it once).

Events written before format 2 hash their text directly, so a value that leaked into one could
never be removed. If the existing chain verifies, every event is rehashed in format 2 (a fresh
salt each, new links) and the head moves; an ``audit.chain.upgraded`` event records the old
format 1 head (seq and hash) so continuity with earlier exports is documented. A broken chain is
left exactly as it is — still verifiable as before (``audit_verify`` keeps naming the break), not
redactable — and the upgrade event says where it broke. New events are format 2 either way.

Takes the models as arguments (a migration passes its historical ones) and never calls
``record()``: it must keep working whatever the models become later.
"""

import secrets
from dataclasses import dataclass

from django.db import connections, transaction
from django.utils import timezone

from .chain import (
    GENESIS_HASH,
    UPGRADED_ACTION,
    ChainBreak,
    commitments,
    compute_hash,
    format_of,
    hash_v1,
    hash_v2,
    iter_chain_rows,
)

TRIGGER = "audit_event_append_only"
CHUNK = 20_000


@dataclass
class UpgradeResult:
    rehashed: int
    broken: ChainBreak | None
    event_seq: int | None  # the audit.chain.upgraded event; None when there was nothing to do


class _Broken(Exception):
    pass


def upgrade_chain(event_model, head_model, *, using: str = "default", chunk: int = CHUNK):
    """Rehash a format 1 chain in format 2; a no-op on an empty or already upgraded chain.

    Format 2 events already in the chain (a migration of another app may have recorded one
    before this runs) are verified in their format and relinked.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        head = head_model.objects.using(using).select_for_update().filter(pk=1).first()
        events = event_model.objects.using(using)
        if not events.filter(salt="", redactions__isnull=True).exists():
            return UpgradeResult(0, None, None)  # empty, or format 2 already
        if head is None:
            head = head_model(pk=1, seq=0, hash=GENESIS_HASH)
            head.save(using=using, force_insert=True)
        old_seq, old_hash = head.seq, head.hash
        try:
            with transaction.atomic(using=using):  # rolled back whole if the chain is broken
                new_head = _rehash(connection, event_model, head, chunk)
        except _Broken as exc:
            broken, rehashed, new_head = exc.args[0], 0, old_hash
        else:
            broken, rehashed = None, old_seq
        if broken is None:
            message = (
                f"Audit chain upgraded to format 2 (redactable): {rehashed} events rehashed. "
                "The format 1 head is in changes."
            )
            changes = {
                "format": {"before": 1, "after": 2},
                "events": rehashed,
                "old_head_seq": old_seq,
                "old_head_hash": old_hash,
            }
        else:
            message = (
                f"Audit chain NOT upgraded: the format 1 chain is broken at event #{broken.seq} "
                f"({broken.reason}). Events 1..{old_seq} stay in format 1 (verifiable as before, "
                "not redactable); new events are written in format 2."
            )
            changes = {
                "format": {"before": 1, "after": 1},
                "events": 0,
                "old_head_seq": old_seq,
                "old_head_hash": old_hash,
                "broken_seq": broken.seq,
                "broken_reason": broken.reason,
            }
        now = timezone.now()
        if head.at is not None and now < head.at:
            now = head.at
        fields = {
            "seq": old_seq + 1,
            "at": now,
            "actor_id": None,
            "actor_label": "system",
            "action": UPGRADED_ACTION,
            "target_type": "audit.auditchainhead",
            "target_id": "1",
            "target_repr": "audit chain",
            "environment_id": None,
            "tier": "",
            "changes": changes,
            "message": message,
            "ip": None,
            "user_agent": "",
            "request_id": "",
            "job_id": None,
            "prev_hash": new_head,
            "salt": secrets.token_hex(16),
            "redactions": None,
        }
        fields["hash"] = hash_v2(fields, commitments(fields, fields["salt"]))
        events.create(**fields)
        head.seq, head.hash, head.at = fields["seq"], fields["hash"], now
        head.save(using=using, update_fields=["seq", "hash", "at"])
        return UpgradeResult(rehashed, broken, fields["seq"])


def _rehash(connection, event_model, head, chunk: int) -> str:
    """Verify the format 1 chain and rewrite it in format 2; returns the new head hash.

    Reads ``chunk`` seqs at a time and stages each event's new salt and links in a temporary
    table, then rewrites every row with one UPDATE (memory stays bounded at any size).
    """
    table = event_model._meta.db_table
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cur:
        if pg:
            cur.execute(
                "CREATE TEMP TABLE audit_upgrade_v2 "
                "(id bigint PRIMARY KEY, salt text, prev_hash text, hash text) ON COMMIT DROP"
            )
        else:
            cur.execute("DROP TABLE IF EXISTS temp.audit_upgrade_v2")
            cur.execute(
                "CREATE TEMP TABLE audit_upgrade_v2 "
                "(id integer PRIMARY KEY, salt text, prev_hash text, hash text)"
            )
    old_prev = new_prev = GENESIS_HASH
    expected = 1
    for lo in range(1, head.seq + 1, chunk):
        staged = []
        for row in iter_chain_rows(
            lo=lo, hi=min(lo + chunk - 1, head.seq), model=event_model, extra=("id",)
        ):
            seq = row["seq"]
            if seq != expected:
                raise _Broken(ChainBreak(seq, f"event(s) {expected}..{seq - 1} were deleted"))
            if row["prev_hash"] != old_prev:
                raise _Broken(ChainBreak(seq, "prev_hash does not match the previous event's hash"))
            v1 = format_of(row) == 1
            if (hash_v1(row) if v1 else compute_hash(row)) != row["hash"]:
                raise _Broken(ChainBreak(seq, "content does not match its hash"))
            old_prev = row["hash"]
            # A format 2 event (appended by a migration that ran record() before this one)
            # keeps its salt or redactions and is only relinked.
            salt = secrets.token_hex(16) if v1 else row["salt"]
            row["prev_hash"] = new_prev
            new_prev = hash_v2(row, commitments(row, salt)) if salt else compute_hash(row)
            staged.append((row["id"], salt, row["prev_hash"], new_prev))
            expected += 1
        _stage(connection, staged, pg)
    if expected - 1 != head.seq or old_prev != head.hash:
        raise _Broken(ChainBreak(expected, "the chain head does not match the last event"))
    if event_model.objects.using(connection.alias).filter(seq__gt=head.seq).exists():
        raise _Broken(ChainBreak(head.seq + 1, "events exist after the recorded chain head"))
    with connection.cursor() as cur:
        trigger = _trigger_mode(cur, table) if pg else None
        if trigger:
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER}")
        # Every row gets a new hash (a unique column), so no update is HOT and each would add an
        # entry to every index: the secondary indexes are rebuilt once afterwards instead.
        indexes = _secondary_indexes(cur, table) if pg else []
        for name, _definition in indexes:
            cur.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        cur.execute(
            f"UPDATE {table} SET salt = u.salt, prev_hash = u.prev_hash, hash = u.hash "  # noqa: S608
            f"FROM audit_upgrade_v2 AS u WHERE {table}.id = u.id"
        )
        for _name, definition in indexes:
            cur.execute(definition)
        if trigger:  # back as it was: ENABLE, ENABLE ALWAYS (0010) or ENABLE REPLICA
            cur.execute(f"ALTER TABLE {table} {_ENABLE[trigger]} TRIGGER {TRIGGER}")
        if not pg:
            cur.execute("DROP TABLE temp.audit_upgrade_v2")
    return new_prev


def _stage(connection, staged: list[tuple], pg: bool) -> None:
    if not staged:
        return
    with connection.cursor() as cur:
        if pg:
            sql = "COPY audit_upgrade_v2 (id, salt, prev_hash, hash) FROM STDIN"
            with cur.cursor.copy(sql) as copy:
                for values in staged:
                    copy.write_row(values)
        else:
            cur.executemany("INSERT INTO temp.audit_upgrade_v2 VALUES (%s, %s, %s, %s)", staged)


def _secondary_indexes(cur, table: str) -> list[tuple[str, str]]:
    """Name and definition of each index of ``table`` that backs no constraint."""
    cur.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index AS x "
        "JOIN pg_class AS i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint AS c WHERE c.conindid = x.indexrelid) ORDER BY i.relname",
        [table],
    )
    return cur.fetchall()


_ENABLE = {"O": "ENABLE", "A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}


def _trigger_mode(cur, table: str) -> str | None:
    """The append-only trigger's ``tgenabled`` (O, A, R), or None if absent or disabled."""
    cur.execute(
        "SELECT tgenabled FROM pg_trigger WHERE tgname = %s AND tgrelid = %s::regclass",
        [TRIGGER, table],
    )
    row = cur.fetchone()
    mode = row[0] if row else None
    if isinstance(mode, bytes):
        mode = mode.decode()
    return mode if mode in _ENABLE else None
