"""The hash chain: how an event is hashed, how one of its fields is redacted, how the chain is
verified. ``docs/audit.md`` describes the format for readers outside the code.

Format 2 (every event written since the chain was upgraded):

- the fields that are never redacted (``FIXED_FIELDS``) are hashed as they are;
- each redactable value — ``actor_label``, ``target_repr``, ``message``, ``ip``, ``user_agent``
  when not empty, and every top-level key of ``changes`` — is hashed through a salted
  commitment ``c_f = sha256(salt_f ‖ value bytes)``. The per-field salts ``salt_f`` are the
  successive 16-byte pieces of SHAKE-256 of the event's random ``salt``, one per committed path
  in sorted order; a text field's value bytes are its UTF-8 text, a ``changes`` key's the
  canonical JSON of its value;
- ``hash = sha256(prev_hash ‖ canonical_json(fixed fields + {"commit": {path: c_f}, "v": 2}))``.

Redacting a field replaces its value by a marker, keeps its commitment, and swaps the event's
salt (from which the removed value could be brute-forced against its commitment) for the
per-field salts of the fields that remain: the event's hash does not change, and every remaining
value is still checked. Format 1 events (written before the upgrade, see ``upgrade.py``) hash
every field directly and stay verifiable, but cannot be redacted.
"""

import gc
import hashlib
import json
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring

from django.db import connections, transaction

GENESIS_HASH = "0" * 64
FORMAT = 2

# Format 1: every field that describes the event, hashed directly (`hash` excluded, sorted).
V1_FIELDS = (
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
HASHED_FIELDS = V1_FIELDS  # the name older callers know

# Format 2: never redacted, hashed as they are.
FIXED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "action",
    "target_type",
    "target_id",
    "environment_id",
    "tier",
    "request_id",
    "job_id",
    "prev_hash",
)
# Redactable text columns; the other redactable paths are "changes.<key>".
TEXT_FIELDS = ("actor_label", "target_repr", "message", "ip", "user_agent")
CHANGES_PREFIX = "changes."
# What a redacted `changes` value becomes; a redacted text column becomes "" (ip: NULL).
REDACTED = {"redacted": True}
# Everything verification reads from a row.
ROW_FIELDS = (*FIXED_FIELDS, *TEXT_FIELDS, "changes", "salt", "redactions")

REDACTED_ACTION = "audit.event.redacted"
UPGRADED_ACTION = "audit.chain.upgraded"


def _normalise(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


# Built once: verifying a million events calls these a million times each.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_ENCODE = _ENCODER.encode
_SHA256 = hashlib.sha256
_V1_VALUES = operator.itemgetter(*V1_FIELDS)
_FIXED_VALUES = operator.itemgetter(*FIXED_FIELDS)


class RedactionError(ValueError):
    """A redacted row whose stored salts and commitments do not fit its values."""


# --- format 1 -----------------------------------------------------------------------------------
def canonical_json(fields: dict) -> str:
    """Format 1's hashed text of an event."""
    try:
        payload = dict(zip(V1_FIELDS, _V1_VALUES(fields), strict=True))
    except KeyError:  # a partial dict: missing fields hash as null
        payload = {name: fields.get(name) for name in V1_FIELDS}
    # Only `at` is ever a datetime (verification streams it as canonical text already).
    payload["at"] = _normalise(payload["at"])
    return _ENCODE(payload)


def hash_v1(fields: dict) -> str:
    return _SHA256((fields["prev_hash"] + canonical_json(fields)).encode("utf-8")).hexdigest()


# --- format 2 -----------------------------------------------------------------------------------
_SHAKE256 = hashlib.shake_256
_JSON_STR = encode_basestring  # what the encoder does to a string (ensure_ascii=False)
SALT_BYTES = 16  # per-field salt


def _value_bytes(path: str, value) -> bytes:
    if path.startswith(CHANGES_PREFIX):
        return _ENCODE(value).encode()
    return value.encode()


def redactable_paths(fields: dict) -> list[str]:
    """The paths that carry a commitment, sorted: non-empty text fields, every ``changes`` key.

    Sorted order is ``actor_label``, the ``changes.<key>`` paths, ``ip``, ``message``,
    ``target_repr``, ``user_agent`` (code point order, as canonical JSON sorts keys).
    """
    changes = fields.get("changes") or {}
    paths = ["actor_label"] if fields.get("actor_label") else []
    paths += [CHANGES_PREFIX + key for key in sorted(changes)]
    paths += [name for name in _TEXT_AFTER_CHANGES if fields.get(name)]
    return paths


_TEXT_AFTER_CHANGES = ("ip", "message", "target_repr", "user_agent")


def path_value(fields: dict, path: str):
    if path.startswith(CHANGES_PREFIX):
        return (fields.get("changes") or {}).get(path[len(CHANGES_PREFIX) :])
    return fields.get(path)


def field_salts(salt: str, paths: list[str]) -> dict[str, bytes]:
    """Each path's ``salt_f``: the i-th 16 bytes of SHAKE-256(salt) for the i-th sorted path.

    One-way: revealing some of them says nothing about the event salt or the others.
    """
    stream = _SHAKE256(salt.encode()).digest(SALT_BYTES * len(paths))
    return {path: stream[i * SALT_BYTES : (i + 1) * SALT_BYTES] for i, path in enumerate(paths)}


def commit(salt_f: bytes, path: str, value) -> str:
    """``c_f = sha256(salt_f ‖ value bytes)``, hex."""
    return _SHA256(salt_f + _value_bytes(path, value)).hexdigest()


def commitments(fields: dict, salt: str) -> list[tuple[str, str]]:
    """Every redactable value's commitment under the event's ``salt``, in sorted path order.

    The hot path of verification: one SHAKE call for all the field salts, one sha256 a field.
    """
    values = []
    value = fields["actor_label"]
    if value:
        values.append(("actor_label", value.encode()))
    changes = fields["changes"]
    if changes:
        for key in sorted(changes) if len(changes) > 1 else changes:
            values.append((CHANGES_PREFIX + key, _ENCODE(changes[key]).encode()))
    for name in _TEXT_AFTER_CHANGES:
        value = fields[name]
        if value:
            values.append((name, value.encode()))
    stream = _SHAKE256(salt.encode()).digest(SALT_BYTES * len(values))
    result = []
    start = 0
    for path, data in values:
        end = start + SALT_BYTES
        result.append((path, _SHA256(stream[start:end] + data).hexdigest()))
        start = end
    return result


def redacted_commitments(fields: dict) -> list[tuple[str, str]]:
    """The commitments of a redacted row: stored for redacted paths, recomputed from the
    remaining values and their stored per-field salts for the others."""
    redactions = fields["redactions"]
    salts = redactions.get("salts") or {}
    stored = redactions.get("commit") or {}
    paths = set(redactable_paths(fields)) | {p for p in stored if p in TEXT_FIELDS}
    result = []
    for path in sorted(paths):
        value = path_value(fields, path)
        if path in stored:
            if value != (REDACTED if path.startswith(CHANGES_PREFIX) else _empty(path)):
                raise RedactionError(f"{path} is marked redacted but holds a value")
            result.append((path, stored[path]))
        elif path in salts:
            result.append((path, commit(bytes.fromhex(salts[path]), path, value)))
        else:
            raise RedactionError(f"{path} has neither a salt nor a stored commitment")
    missing = set(stored) - paths
    if missing:
        raise RedactionError(f"redacted {', '.join(sorted(missing))} no longer in the event")
    return result


def _empty(path: str):
    return None if path == "ip" else ""


def canonical_json_v2(fields: dict, commit_list: list[tuple[str, str]]) -> str:
    """Format 2's hashed text: canonical JSON (sorted keys, no spaces, UTF-8) of the fixed
    fields, ``"commit": {path: c_f}`` and ``"v": 2``.

    Written out by hand in sorted key order (three times faster than the general encoder on a
    million events); ``tests/core/test_audit_redaction.py`` holds it equal to
    ``canonical_json_v2_reference`` on every kind of value.
    """
    at = fields["at"]
    if at.__class__ is not str:
        at = _normalise(at)
    actor_id = fields["actor_id"]
    environment_id = fields["environment_id"]
    job_id = fields["job_id"]
    commit_text = ",".join([f'{_JSON_STR(path)}:"{value}"' for path, value in commit_list])
    return (
        f'{{"action":{_JSON_STR(fields["action"])},'
        f'"actor_id":{"null" if actor_id is None else actor_id},'
        f'"at":{_JSON_STR(at)},"commit":{{{commit_text}}},'
        f'"environment_id":{"null" if environment_id is None else environment_id},'
        f'"job_id":{"null" if job_id is None else job_id},'
        f'"prev_hash":{_JSON_STR(fields["prev_hash"])},'
        f'"request_id":{_JSON_STR(fields["request_id"])},"seq":{fields["seq"]},'
        f'"target_id":{_JSON_STR(fields["target_id"])},'
        f'"target_type":{_JSON_STR(fields["target_type"])},"tier":{_JSON_STR(fields["tier"])},'
        f'"v":{FORMAT}}}'
    )


def canonical_json_v2_reference(fields: dict, commit_list: list[tuple[str, str]]) -> str:
    """The same text through the general encoder: the definition ``canonical_json_v2`` meets."""
    payload = dict(zip(FIXED_FIELDS, _FIXED_VALUES(fields), strict=True))
    payload["at"] = _normalise(payload["at"])
    payload["commit"] = dict(commit_list)
    payload["v"] = FORMAT
    return _ENCODE(payload)


def hash_v2(fields: dict, commit_list: list[tuple[str, str]]) -> str:
    """``sha256(prev_hash ‖ canonical_json_v2)``; ``commit_list`` sorted by path."""
    text = fields["prev_hash"] + canonical_json_v2(fields, commit_list)
    return _SHA256(text.encode()).hexdigest()


def format_of(fields: dict) -> int:
    return 2 if fields.get("salt") or fields.get("redactions") else 1


def compute_hash(fields: dict) -> str:
    """The hash a row must carry, in its own format (a salt or redactions mean format 2)."""
    salt = fields.get("salt")
    if salt:
        return hash_v2(fields, commitments(fields, salt))
    if fields.get("redactions"):
        return hash_v2(fields, redacted_commitments(fields))
    return hash_v1(fields)


def redact(fields: dict, path: str, log_entry: dict) -> dict:
    """The column values that redact ``path`` of a format 2 row (``fields`` as stored).

    The hash of the result equals the row's hash: the caller checks that before writing.
    """
    if path not in redactable_paths(fields):
        raise RedactionError(f"{path} is empty or not a redactable field")
    redactions = fields.get("redactions")
    if fields.get("salt"):
        salts = field_salts(fields["salt"], redactable_paths(fields))
        redactions = {"salts": {p: s.hex() for p, s in salts.items()}, "commit": {}, "log": []}
    elif redactions:
        redactions = json.loads(json.dumps(redactions))  # a copy to change
    else:
        raise RedactionError("the event predates the redactable format (format 1)")
    if path in redactions["commit"]:
        raise RedactionError(f"{path} is already redacted")
    salt_f = bytes.fromhex(redactions["salts"].pop(path))
    redactions["commit"][path] = commit(salt_f, path, path_value(fields, path))
    redactions["log"].append(log_entry)
    updates = {"salt": "", "redactions": redactions}
    if path.startswith(CHANGES_PREFIX):
        updates["changes"] = {**fields["changes"], path[len(CHANGES_PREFIX) :]: dict(REDACTED)}
    else:
        updates[path] = _empty(path)
    return updates


# --- verification -------------------------------------------------------------------------------
@dataclass
class ChainBreak:
    seq: int
    reason: str


@dataclass
class VerifyResult:
    checked: int
    head_hash: str
    broken: ChainBreak | None
    first_prev_hash: str = GENESIS_HASH
    last_seq: int = 0
    # (seq, path) -> seq of the redaction event the row's log names
    redacted: dict = field(default_factory=dict)
    # seq of a redaction event -> (seq, path) it records
    redaction_events: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.broken is None


def _collect_redactions(row: dict, result: VerifyResult) -> str | None:
    """Note a redacted row's log (checked against the redaction events once all rows are read)."""
    redactions = row["redactions"]
    if row["salt"]:
        return "the event holds both a salt and redactions"
    log = redactions.get("log") or []
    logged = {entry.get("path") for entry in log}
    if logged != set(redactions.get("commit") or {}):
        return "its redactions and their log disagree"
    for entry in log:
        result.redacted[(row["seq"], entry["path"])] = entry.get("event")
    return None


def verify_rows(
    rows: Iterable[dict], *, start_seq: int = 1, prev_hash: str | None = GENESIS_HASH
) -> VerifyResult:
    """Walk rows in ``seq`` order from ``start_seq``; report the first link or hash that fails.

    ``prev_hash=None`` accepts whatever the first row links to (a range verified on its own; the
    caller stitches ranges together through ``first_prev_hash``).
    """
    result = VerifyResult(0, prev_hash or GENESIS_HASH, None, prev_hash or GENESIS_HASH)
    expected_seq = start_seq
    checked = 0
    reason = None
    for row in rows:
        seq = row["seq"]
        if prev_hash is None:
            prev_hash = result.first_prev_hash = row["prev_hash"]
        if seq != expected_seq:
            reason = (
                f"sequence jumps from {expected_seq - 1} to {seq}: "
                f"event(s) {expected_seq}..{seq - 1} were deleted"
            )
            break
        if row["prev_hash"] != prev_hash:
            reason = "prev_hash does not match the previous event's hash"
            break
        salt = row["salt"]
        try:
            if salt:
                computed = hash_v2(row, commitments(row, salt))
            elif row["redactions"]:
                reason = _collect_redactions(row, result)
                if reason:
                    reason += " (the row was altered)"
                    break
                computed = hash_v2(row, redacted_commitments(row))
            else:
                computed = hash_v1(row)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            reason = f"{exc} (the row was altered)"
            break
        if computed != row["hash"]:
            reason = "content does not match its hash (the row was altered)"
            break
        if row["action"] == REDACTED_ACTION:
            changes = row["changes"]
            result.redaction_events[seq] = (changes.get("seq"), changes.get("field"))
        prev_hash = row["hash"]
        expected_seq += 1
        checked += 1
    else:
        seq = expected_seq
    result.checked, result.head_hash = checked, prev_hash or GENESIS_HASH
    result.last_seq = seq - 1
    if reason:
        result.broken = ChainBreak(seq, reason)
    return result


def check_redactions(redacted: dict, redaction_events: dict) -> ChainBreak | None:
    """Every redacted field names the ``audit.event.redacted`` event that records it, and every
    such event's field is redacted: a redaction made behind the portal's back (or a redacted row
    restored from a backup) breaks the chain as any other edit does."""
    for (seq, path), event_seq in sorted(redacted.items()):
        if redaction_events.get(event_seq) != (seq, path):
            return ChainBreak(
                seq,
                f"{path} was redacted without the {REDACTED_ACTION} event that records it "
                f"(#{event_seq})",
            )
    for event_seq, (seq, path) in sorted(redaction_events.items()):
        if redacted.get((seq, path)) != event_seq:
            return ChainBreak(
                event_seq,
                f"event #{event_seq} records the redaction of {path} of #{seq}, "
                "but that field is not redacted (the row was altered or restored)",
            )
    return None


def _verify_range(bounds: tuple[int, int]) -> VerifyResult:
    lo, hi = bounds
    rows = iter_chain_rows(lo=lo, hi=hi)
    # The rows are short-lived dicts without cycles: reference counting frees them, and the
    # cycle collector would only walk them again (a few per cent of a million events).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return verify_rows(rows, start_seq=lo, prev_hash=GENESIS_HASH if lo == 1 else None)
    finally:
        if collecting:
            gc.enable()


def verify_chain(
    *, workers: int = 1, parallel_from: int = 200_000, in_processes: bool = True
) -> VerifyResult:
    """Verify the whole chain against the chain head.

    Large chains on PostgreSQL are split into ``workers`` seq ranges, verified in parallel
    processes (``in_processes``; only from a fresh process such as ``audit_verify``, which
    holds no open transaction), then stitched: each range must start where the previous ended.
    """
    from .models import AuditChainHead

    head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first() or (
        0,
        GENESIS_HASH,
    )
    head_seq, head_hash = head
    ranges = [(1, head_seq)]
    if workers > 1 and head_seq >= parallel_from and connections["default"].vendor == "postgresql":
        size = -(-head_seq // workers)
        ranges = [(lo, min(lo + size - 1, head_seq)) for lo in range(1, head_seq + 1, size)]
    if len(ranges) == 1 or not in_processes:
        results = [_verify_range(bounds) for bounds in ranges]
    else:
        import multiprocessing

        # Children must open their own connections: never share the parent's socket.
        connections.close_all()
        with multiprocessing.get_context("fork").Pool(len(ranges)) as pool:
            results = pool.map(_verify_range, ranges)
    checked, prev_hash = 0, GENESIS_HASH
    redacted, redaction_events = {}, {}
    for (lo, hi), result in zip(ranges, results, strict=True):
        if result.checked and result.first_prev_hash != prev_hash:
            reason = "prev_hash does not match the previous event's hash"
            return VerifyResult(checked, prev_hash, ChainBreak(lo, reason))
        checked += result.checked
        if not result.ok:
            return VerifyResult(checked, result.head_hash, result.broken)
        prev_hash = result.head_hash
        redacted.update(result.redacted)
        redaction_events.update(result.redaction_events)
        if result.last_seq != hi:
            # Rows missing at the end of this range (or of the whole log).
            return VerifyResult(
                checked,
                prev_hash,
                ChainBreak(
                    result.last_seq + 1 if hi != head_seq else head_seq,
                    f"chain head records event #{head_seq} but the log ends at "
                    f"#{result.last_seq}: events at the end were deleted or the head was altered"
                    if hi == head_seq
                    else f"event(s) {result.last_seq + 1}..{hi} were deleted",
                ),
            )
    if prev_hash != head_hash:
        return VerifyResult(
            checked,
            prev_hash,
            ChainBreak(head_seq, "the chain head's hash does not match the last event"),
        )
    extra = _rows_after(head_seq)
    if extra:
        return VerifyResult(
            checked,
            prev_hash,
            ChainBreak(extra, "events exist after the recorded chain head (inserted behind it)"),
        )
    problem = check_redactions(redacted, redaction_events)
    if problem:
        return VerifyResult(checked, prev_hash, problem)
    return VerifyResult(checked, prev_hash, None)


def _rows_after(seq: int) -> int | None:
    from .models import AuditEvent

    return (
        AuditEvent.objects.filter(seq__gt=seq).order_by("seq").values_list("seq", flat=True).first()
    )


_INT_FIELDS = {"seq", "actor_id", "environment_id", "job_id"}
_PG_AT = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"


def iter_chain_rows(
    *, lo: int = 1, hi: int | None = None, chunk_size: int = 5000, model=None, extra=()
) -> Iterator[dict]:
    """Stream events ``lo..hi`` in ``seq`` order with bounded memory (``ROW_FIELDS`` + hash).

    On PostgreSQL the rows come through ``COPY ... TO STDOUT`` with the timestamp already in its
    canonical text form: about three times faster than the ORM for a million events. ``model``
    is the event model to read (a migration passes its historical one); ``extra`` more columns.
    """
    if model is None:
        from .models import AuditEvent as model
    fields = [*ROW_FIELDS, "hash", *extra]
    if connections["default"].vendor == "postgresql":
        return _copy_rows(model._meta.db_table, fields, lo, hi)
    queryset = model.objects.filter(seq__gte=lo)
    if hi is not None:
        queryset = queryset.filter(seq__lte=hi)
    return queryset.order_by("seq").values(*fields).iterator(chunk_size=chunk_size)


def _copy_rows(table: str, fields: list[str], lo: int, hi: int | None) -> Iterator[dict]:
    select = ", ".join(
        _PG_AT
        if f == "at"
        else "host(ip)"
        if f == "ip"
        else f
        if f in _INT_FIELDS or f == "id"
        else f"{f}::text"
        for f in fields
    )
    # psycopg parses the integer columns itself, in C.
    types = ["int8" if f in _INT_FIELDS or f == "id" else "text" for f in fields]
    # The table name comes from the model; only the bounds vary, and they are bound parameters.
    sql = (
        f"COPY (SELECT {select} FROM {table} AS e "  # noqa: S608
        "WHERE e.seq >= %s AND e.seq <= %s ORDER BY e.seq) TO STDOUT"
    )
    bounds = (lo, hi if hi is not None else 2**62)
    loads = json.loads
    with (
        transaction.atomic(),
        connections["default"].cursor() as cursor,
        cursor.cursor.copy(sql, bounds) as copy,
    ):
        copy.set_types(types)
        for values in copy.rows():
            row = dict(zip(fields, values, strict=True))
            row["changes"] = loads(row["changes"])
            if row["redactions"] is not None:
                row["redactions"] = loads(row["redactions"])
            yield row
