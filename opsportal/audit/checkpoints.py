"""Signed checkpoints: the audit chain's head, anchored outside the database.

A checkpoint records the chain head (``seq`` and ``hash``) at a moment, signed with an Ed25519
key that the database never holds (``AUDIT_SIGNING_KEY``), and chains the previous checkpoint
(``prev``: sha256 of its line). Checkpoints are appended, one JSON object a line, to
``AUDIT_CHECKPOINT_DIR/checkpoints.jsonl``, and the same line is copied off the machine when
``AUDIT_CHECKPOINT_URL`` (an HTTP POST) or ``AUDIT_CHECKPOINT_SYSLOG`` (a syslog message) is set.
Whoever owns the database can rewrite every event and recompute every hash, but cannot forge a
checkpoint: ``audit_verify --checkpoints DIR`` proves the trail still holds the event each
checkpoint names, with the hash it had. See docs/audit.md.

A line::

    {"at":"2026-05-01T12:15:00.000000+00:00","head":"9f…","key_id":"ed25519:1a2b…",
     "prev":"00…","seq":1042,"sig":"<base64 Ed25519 signature>","v":1}

The signature covers ``SIGNED_PREFIX`` + the canonical JSON (sorted keys, no whitespace) of every
field but ``sig``; ``prev`` is the sha256 of the previous line's canonical JSON (``sig`` included),
``GENESIS`` for the first.
"""

import base64
import binascii
import fcntl
import hashlib
import http.client
import json
import logging
import logging.handlers
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.db import transaction

FILENAME = "checkpoints.jsonl"
GENESIS = "0" * 64
VERSION = 1
SIGNED_PREFIX = b"opsportal audit checkpoint v1\n"
FIELDS = ("at", "head", "key_id", "prev", "seq", "v")


logger = logging.getLogger(__name__)


class CheckpointError(Exception):
    """No key configured, or the trail no longer holds the last checkpointed head."""


# --- keys ---------------------------------------------------------------------------------------
def _b64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointError(f"{what} is not valid base64") from exc
    if len(raw) != size:
        raise CheckpointError(f"{what} must be {size} bytes, base64-encoded (got {len(raw)})")
    return raw


def signing_key() -> Ed25519PrivateKey:
    if not settings.AUDIT_SIGNING_KEY:
        raise CheckpointError(
            "AUDIT_SIGNING_KEY is not set: checkpoints need an Ed25519 private key (base64 of 32 "
            "random bytes), kept outside the database."
        )
    raw = _b64(settings.AUDIT_SIGNING_KEY, 32, "AUDIT_SIGNING_KEY")
    return Ed25519PrivateKey.from_private_bytes(raw)


def _public_raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id_for(public: Ed25519PublicKey) -> str:
    return "ed25519:" + hashlib.sha256(_public_raw(public)).hexdigest()[:16]


def current_key_id(key: Ed25519PrivateKey | None = None) -> str:
    key = key or signing_key()
    return settings.AUDIT_SIGNING_KEY_ID or key_id_for(key.public_key())


def public_key_b64(key: Ed25519PrivateKey | None = None) -> str:
    """The public half of the signing key, for AUDIT_VERIFY_KEYS after a rotation."""
    return base64.b64encode(_public_raw((key or signing_key()).public_key())).decode()


def verify_keys() -> dict[str, Ed25519PublicKey]:
    """Key id -> public key: AUDIT_VERIFY_KEYS, and the current signing key's public half."""
    keys = {
        key_id: Ed25519PublicKey.from_public_bytes(_b64(value, 32, f"AUDIT_VERIFY_KEYS[{key_id}]"))
        for key_id, value in (settings.AUDIT_VERIFY_KEYS or {}).items()
    }
    if settings.AUDIT_SIGNING_KEY:
        key = signing_key()
        keys.setdefault(current_key_id(key), key.public_key())
    return keys


# --- lines --------------------------------------------------------------------------------------
def _canonical(obj: dict) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(checkpoint: dict) -> str:
    return hashlib.sha256(_canonical(checkpoint)).hexdigest()


def sign(body: dict, key: Ed25519PrivateKey) -> dict:
    unsigned = {name: body[name] for name in FIELDS}
    signature = key.sign(SIGNED_PREFIX + _canonical(unsigned))
    return {**unsigned, "sig": base64.b64encode(signature).decode()}


def signature_ok(checkpoint: dict, public: Ed25519PublicKey) -> bool:
    unsigned = {name: checkpoint[name] for name in FIELDS}
    try:
        public.verify(
            base64.b64decode(checkpoint["sig"], validate=True), SIGNED_PREFIX + _canonical(unsigned)
        )
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


def _last_line(fh) -> str | None:
    fh.seek(0)
    last = None
    for line in fh:
        if line.strip():
            last = line
    return last


def _event_hash(seq: int) -> str | None:
    from .models import AuditEvent

    return AuditEvent.objects.filter(seq=seq).values_list("hash", flat=True).first()


def write_checkpoint(directory: Path | str | None = None) -> dict:
    """Append a signed checkpoint of the current chain head; return it.

    Refuses (``CheckpointError``) when the trail no longer holds the previous checkpoint's head
    with its hash: a checkpoint must never vouch for a rewritten chain.
    """
    from .models import AuditChainHead

    key = signing_key()
    directory = Path(directory or settings.AUDIT_CHECKPOINT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILENAME
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    with os.fdopen(fd, "r+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # one writer at a time: each line chains the last
        last = _last_line(fh)
        prev = GENESIS
        if last is not None:
            previous = json.loads(last)
            prev = digest(previous)
            if previous["seq"] and _event_hash(previous["seq"]) != previous["head"]:
                raise CheckpointError(
                    f"the trail no longer holds event #{previous['seq']} with the hash of the "
                    f"last checkpoint ({previous['at']}): run audit_verify --checkpoints"
                )
        with transaction.atomic():
            head = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
        seq, head_hash = head or (0, GENESIS)
        body = {
            "at": datetime.now(UTC).isoformat(timespec="microseconds"),
            "head": head_hash,
            "key_id": current_key_id(key),
            "prev": prev,
            "seq": seq,
            "v": VERSION,
        }
        checkpoint = sign(body, key)
        fh.write(_canonical(checkpoint).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
        # still under the lock: a collector receives the lines in the order they chain
        failures = send_copies(checkpoint)
    for via, reason in failures:
        from .services import checkpoint_failed

        logger.warning("audit checkpoint copy (%s) failed: %s", via, reason)
        checkpoint_failed(reason=reason, via=via)
    return checkpoint


# --- copies off the machine ---------------------------------------------------------------------
COPY_TIMEOUT = 5.0
SYSLOG_TAG = "opsportal-audit-checkpoint"
VIA_URL = "the copy to AUDIT_CHECKPOINT_URL"
VIA_SYSLOG = "the copy to AUDIT_CHECKPOINT_SYSLOG"


def _post_copy(url: str, line: bytes) -> None:
    """POST the line to ``url`` (no redirect followed); a non-2xx answer is a failure. Errors
    name the host only: the URL's path or user info may be the collector's secret."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CheckpointError("AUDIT_CHECKPOINT_URL is not an http(s) URL")
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    headers = {"Content-Type": "application/json", "User-Agent": "opsportal-audit/1"}
    if parts.username is not None:
        user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode()
    try:
        port = parts.port
    except ValueError:
        raise CheckpointError("AUDIT_CHECKPOINT_URL has a port that is not a number") from None
    conn = cls(parts.hostname, port, timeout=COPY_TIMEOUT)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("POST", path, body=line, headers=headers)
        response = conn.getresponse()
        response.read(4096)
    except (OSError, http.client.HTTPException) as exc:
        raise CheckpointError(
            f"{parts.hostname} did not take the checkpoint ({type(exc).__name__})"
        ) from None
    finally:
        conn.close()
    if not 200 <= response.status < 300:
        raise CheckpointError(f"{parts.hostname} answered HTTP {response.status} to the checkpoint")


class _SysLog(logging.handlers.SysLogHandler):
    def handleError(self, record):
        raise  # emit() calls this inside its except: a lost copy is reported, not printed


def syslog_address(value: str) -> tuple[str | tuple[str, int], int | None]:
    """``/dev/log`` (a local socket), ``host:port`` or ``udp://host:port``, ``tcp://host:port``
    → (address, socket type) for ``SysLogHandler``."""
    if value.startswith("/"):
        return value, None  # the handler tries a datagram socket, then a stream one
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "udp", value
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")
    if scheme not in ("udp", "tcp") or not host or not (port.isascii() and port.isdigit()):
        raise CheckpointError(
            "AUDIT_CHECKPOINT_SYSLOG is not /path/to/socket, host:port, udp://host:port or "
            "tcp://host:port"
        )
    return (host, int(port)), socket.SOCK_STREAM if scheme == "tcp" else socket.SOCK_DGRAM


def _syslog_copy(value: str, line: str) -> None:
    """One message (facility auth, severity info): ``opsportal-audit-checkpoint: <line>``."""
    address, socktype = syslog_address(value)
    try:
        handler = _SysLog(address=address, facility=_SysLog.LOG_AUTH, socktype=socktype)
    except OSError as exc:
        raise CheckpointError(
            f"syslog at {value} is not reachable ({type(exc).__name__})"
        ) from None
    handler.append_nul = False
    if socktype == socket.SOCK_STREAM and not isinstance(address, str):
        handler.setFormatter(logging.Formatter("%(message)s\n"))  # newline-framed over TCP
    record = logging.LogRecord(
        SYSLOG_TAG, logging.INFO, __file__, 0, f"{SYSLOG_TAG}: {line}", None, None
    )
    try:
        handler.emit(record)
    except (OSError, AttributeError) as exc:  # AttributeError: no socket could be opened
        raise CheckpointError(
            f"syslog at {value} did not take the checkpoint ({type(exc).__name__})"
        ) from None
    finally:
        handler.close()


def send_copies(checkpoint: dict) -> list[tuple[str, str]]:
    """Copy the checkpoint's line to the configured URL and syslog; (via, reason) per failure.

    A failed copy never stops the checkpoint: the line is in ``AUDIT_CHECKPOINT_DIR`` already,
    and the failure is audited (``audit.checkpoint.failed``) and logged.
    """
    line = _canonical(checkpoint).decode()
    failures = []
    url = getattr(settings, "AUDIT_CHECKPOINT_URL", "")
    if url:
        try:
            _post_copy(url, line.encode())
        except CheckpointError as exc:
            failures.append((VIA_URL, str(exc)))
    target = getattr(settings, "AUDIT_CHECKPOINT_SYSLOG", "")
    if target:
        try:
            _syslog_copy(target, line)
        except CheckpointError as exc:
            failures.append((VIA_SYSLOG, str(exc)))
    return failures


def checkpoint_for_export() -> dict | None:
    """A checkpoint as an audit export starts (no key: none). Never stops the export: a refusal
    is logged, and ``audit_verify --checkpoints`` names the break."""
    if not settings.AUDIT_SIGNING_KEY:
        return None
    try:
        return write_checkpoint()
    except (CheckpointError, OSError) as exc:
        logger.warning("audit checkpoint on export not written: %s", exc)
        return None


# --- verification -------------------------------------------------------------------------------
@dataclass
class CheckpointResult:
    checked: int
    broken_line: int | None = None
    reason: str = ""
    checkpoint: dict | None = None

    @property
    def ok(self) -> bool:
        return self.broken_line is None

    def describe(self) -> str:
        if self.ok:
            return f"{self.checked} checkpoints hold"
        where = f"checkpoint {self.broken_line}"
        if self.checkpoint:
            cp = self.checkpoint
            where += f" (event #{cp.get('seq')}, {cp.get('at')}, key {cp.get('key_id')})"
        return f"{where}: {self.reason}"


def read_checkpoints(directory: Path | str) -> list[tuple[int, str]]:
    path = Path(directory) / FILENAME
    if not path.is_file():
        raise CheckpointError(f"no {FILENAME} in {directory}")
    with path.open(encoding="utf-8") as fh:
        return [(number, line) for number, line in enumerate(fh, start=1) if line.strip()]


def verify_checkpoints(directory: Path | str) -> CheckpointResult:
    """Check every checkpoint in ``directory`` against its key and the previous one, and the trail
    against every checkpoint: the event at its ``seq`` exists with its ``head`` hash.

    The first checkpoint that fails is named (its line number in ``checkpoints.jsonl``).
    """
    keys = verify_keys()
    prev, last_seq = GENESIS, 0
    parsed = []
    for number, line in read_checkpoints(directory):
        try:
            cp = json.loads(line)
            if not isinstance(cp, dict) or set(cp) != {*FIELDS, "sig"}:
                raise ValueError("fields")
        except ValueError:
            return CheckpointResult(len(parsed), number, "the line is not a checkpoint")
        public = keys.get(cp["key_id"])
        if public is None:
            return CheckpointResult(
                len(parsed), number, f"unknown key id {cp['key_id']} (see AUDIT_VERIFY_KEYS)", cp
            )
        if not signature_ok(cp, public):
            return CheckpointResult(len(parsed), number, "the signature does not verify", cp)
        if cp["prev"] != prev:
            return CheckpointResult(
                len(parsed),
                number,
                "it does not chain the previous checkpoint (a checkpoint was removed or altered)",
                cp,
            )
        if not isinstance(cp["seq"], int) or cp["seq"] < last_seq:
            return CheckpointResult(
                len(parsed), number, "its head is behind the previous checkpoint's", cp
            )
        prev, last_seq = digest(cp), cp["seq"]
        parsed.append((number, cp))

    from .models import AuditEvent

    seqs = sorted({cp["seq"] for _, cp in parsed if cp["seq"]})
    hashes = {}
    for i in range(0, len(seqs), 500):
        hashes.update(
            AuditEvent.objects.filter(seq__in=seqs[i : i + 500]).values_list("seq", "hash")
        )
    for checked, (number, cp) in enumerate(parsed):
        if not cp["seq"]:
            continue
        found = hashes.get(cp["seq"])
        if found is None:
            reason = (
                f"event #{cp['seq']} is gone from the trail "
                "(the log was truncated or its tail deleted)"
            )
            return CheckpointResult(checked, number, reason, cp)
        if found != cp["head"]:
            reason = (
                f"event #{cp['seq']} no longer has the checkpointed hash (the chain was rewritten)"
            )
            return CheckpointResult(checked, number, reason, cp)
    return CheckpointResult(len(parsed))
