"""The hash chain: how an event is hashed and how the whole chain is verified."""

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS_HASH = "0" * 64

# Every field that describes the event; `hash` itself is excluded. Order is irrelevant (sorted).
HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "environment_id",
    "tier",
    "changes",
    "message",
    "ip",
    "user_agent",
    "request_id",
    "job_id",
    "prev_hash",
)


def _normalise(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def canonical_json(fields: dict) -> str:
    payload = {name: _normalise(fields.get(name)) for name in HASHED_FIELDS}
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def compute_hash(fields: dict) -> str:
    prev = fields["prev_hash"]
    return hashlib.sha256((prev + canonical_json(fields)).encode("utf-8")).hexdigest()


@dataclass
class ChainBreak:
    seq: int
    reason: str


@dataclass
class VerifyResult:
    checked: int
    head_hash: str
    broken: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_rows(
    rows: Iterable[dict], *, expected_head: tuple[int, str] | None = None
) -> VerifyResult:
    """Walk rows in ``seq`` order; report the first event whose link or hash does not hold."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            return VerifyResult(
                checked,
                prev_hash,
                ChainBreak(
                    seq,
                    f"sequence jumps from {expected_seq - 1} to {seq}: "
                    f"event(s) {expected_seq}..{seq - 1} were deleted",
                ),
            )
        if row["prev_hash"] != prev_hash:
            return VerifyResult(
                checked,
                prev_hash,
                ChainBreak(seq, "prev_hash does not match the previous event's hash"),
            )
        if compute_hash(row) != row["hash"]:
            return VerifyResult(
                checked,
                prev_hash,
                ChainBreak(seq, "content does not match its hash (the row was altered)"),
            )
        prev_hash = row["hash"]
        expected_seq += 1
        checked += 1
    if expected_head is not None and expected_head != (checked, prev_hash):
        head_seq, _head_hash = expected_head
        return VerifyResult(
            checked,
            prev_hash,
            ChainBreak(
                head_seq,
                f"chain head records event #{head_seq} but the log ends at #{checked}: "
                "events at the end were deleted or the head was altered",
            ),
        )
    return VerifyResult(checked, prev_hash, None)


def iter_chain_rows(queryset, chunk_size: int = 5000) -> Iterator[dict]:
    """Stream the chain with bounded memory (server-side cursor on PostgreSQL)."""
    fields = [*HASHED_FIELDS, "hash"]
    return queryset.order_by("seq").values(*fields).iterator(chunk_size=chunk_size)
