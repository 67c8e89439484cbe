"""Signed checkpoints of the audit chain head (opsportal/audit/checkpoints.py, docs/audit.md)."""

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings
from django.urls import reverse

from opsportal.audit import checkpoints
from opsportal.audit.chain import compute_hash, iter_chain_rows
from opsportal.audit.models import AuditChainHead, AuditEvent
from opsportal.audit.services import CHECKPOINT_FAILED_ACTION, record


def _new_key() -> tuple[str, str]:
    """(private, public), each base64 of the raw 32 bytes."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.b64encode(private).decode(), checkpoints.public_key_b64(key)


@pytest.fixture
def signing(tmp_path):
    private, _ = _new_key()
    with override_settings(
        AUDIT_SIGNING_KEY=private,
        AUDIT_SIGNING_KEY_ID="",
        AUDIT_VERIFY_KEYS={},
        AUDIT_CHECKPOINT_DIR=tmp_path,
    ):
        yield tmp_path


def _append(n: int) -> list[AuditEvent]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(record(actor=None, action="test.checkpointed", target_repr=f"t{i}"))
    return events


def _verify(directory=None) -> tuple[int, str]:
    try:
        if directory is None:
            call_command("audit_verify")
        else:
            call_command("audit_verify", checkpoints=str(directory))
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


def _lines(directory) -> list[dict]:
    text = (directory / checkpoints.FILENAME).read_text()
    return [json.loads(line) for line in text.splitlines()]


def _write_lines(directory, lines: list[dict]) -> None:
    text = "".join(checkpoints._canonical(cp).decode() + "\n" for cp in lines)
    (directory / checkpoints.FILENAME).write_text(text)


def _raw_sql_allowed() -> None:
    """What the database owner does first: switch the append-only trigger off."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")


@pytest.mark.django_db
def test_sign_and_verify_round_trip(signing):
    events = _append(3)
    assert AuditEvent.objects.filter(action="test.checkpointed").count() == 3
    call_command("audit_checkpoint")
    _append(2)
    checkpoints.write_checkpoint()
    first, second = _lines(signing)
    head = AuditChainHead.objects.get(pk=1)
    assert (first["seq"], first["head"]) == (events[-1].seq, events[-1].hash)
    assert (second["seq"], second["head"]) == (head.seq, head.hash)
    assert first["prev"] == checkpoints.GENESIS
    assert second["prev"] == checkpoints.digest(first)
    assert first["key_id"].startswith("ed25519:")
    result = checkpoints.verify_checkpoints(signing)
    assert result.ok and result.checked == 2
    assert _verify(signing) == (0, "")
    # the private key never appears in a checkpoint
    from django.conf import settings

    assert settings.AUDIT_SIGNING_KEY not in (signing / checkpoints.FILENAME).read_text()


@pytest.mark.django_db
def test_rotated_key_old_checkpoints_verify_by_key_id(tmp_path):
    _append(1)
    old_private, old_public = _new_key()
    new_private, _ = _new_key()
    with override_settings(
        AUDIT_SIGNING_KEY=old_private,
        AUDIT_SIGNING_KEY_ID="2026-a",
        AUDIT_VERIFY_KEYS={},
        AUDIT_CHECKPOINT_DIR=tmp_path,
    ):
        checkpoints.write_checkpoint()
    _append(1)
    with override_settings(
        AUDIT_SIGNING_KEY=new_private,
        AUDIT_SIGNING_KEY_ID="2026-b",
        AUDIT_CHECKPOINT_DIR=tmp_path,
        AUDIT_VERIFY_KEYS={"2026-a": old_public},
    ):
        checkpoints.write_checkpoint()
        assert [cp["key_id"] for cp in _lines(tmp_path)] == ["2026-a", "2026-b"]
        assert checkpoints.verify_checkpoints(tmp_path).ok
        assert _verify(tmp_path) == (0, "")
    # Without the retired public key, the old checkpoint cannot be trusted.
    with override_settings(
        AUDIT_SIGNING_KEY=new_private,
        AUDIT_SIGNING_KEY_ID="2026-b",
        AUDIT_CHECKPOINT_DIR=tmp_path,
        AUDIT_VERIFY_KEYS={},
    ):
        code, message = _verify(tmp_path)
    assert code == 1
    assert "checkpoint 1" in message and "unknown key id 2026-a" in message
    # A checkpoint claiming the old key id but signed with another key fails its signature.
    with override_settings(
        AUDIT_SIGNING_KEY=new_private,
        AUDIT_SIGNING_KEY_ID="2026-b",
        AUDIT_CHECKPOINT_DIR=tmp_path,
        AUDIT_VERIFY_KEYS={"2026-a": _new_key()[1]},
    ):
        result = checkpoints.verify_checkpoints(tmp_path)
    assert (result.broken_line, result.reason) == (1, "the signature does not verify")


@pytest.mark.django_db
def test_altered_or_removed_checkpoint_line_is_detected(signing):
    events = _append(3)
    for _ in range(3):
        checkpoints.write_checkpoint()
    original = _lines(signing)

    altered = [dict(cp) for cp in original]
    altered[1]["seq"] = events[0].seq
    altered[1]["head"] = events[0].hash
    _write_lines(signing, altered)
    code, message = _verify(signing)
    assert code == 1
    assert "checkpoint 2" in message and "signature does not verify" in message

    _write_lines(signing, [original[0], original[2]])
    result = checkpoints.verify_checkpoints(signing)
    assert result.broken_line == 2
    assert "does not chain the previous checkpoint" in result.reason

    _write_lines(signing, original)
    with (signing / checkpoints.FILENAME).open("a") as fh:
        fh.write("not json\n")
    result = checkpoints.verify_checkpoints(signing)
    assert (result.broken_line, result.reason) == (4, "the line is not a checkpoint")


def _rewrite_from(seq: int) -> None:
    """Change event ``seq``'s message and recompute every later hash, then move the head: the
    rewrite the chain alone cannot see."""
    _raw_sql_allowed()
    rows = list(iter_chain_rows(lo=seq))
    prev_hash = None
    with connection.cursor() as cur:
        for row in rows:
            if row["seq"] == seq:
                row["message"] = "nothing happened here"
            if prev_hash is not None:
                row["prev_hash"] = prev_hash
            row["hash"] = compute_hash(row)
            cur.execute(
                "UPDATE audit_auditevent SET message = %s, prev_hash = %s, hash = %s "
                "WHERE seq = %s",
                [row["message"], row["prev_hash"], row["hash"], row["seq"]],
            )
            prev_hash = row["hash"]
    AuditChainHead.objects.filter(pk=1).update(hash=prev_hash)


@pytest.mark.django_db
def test_rewrite_with_recomputed_hashes_passes_plain_verify_but_not_checkpoints(signing):
    events = _append(4)
    checkpoints.write_checkpoint()  # first: head at events[3]
    _append(1)
    checkpoints.write_checkpoint()
    _rewrite_from(events[1].seq)
    assert AuditEvent.objects.get(seq=events[1].seq).message == "nothing happened here"
    assert _verify() == (0, "")  # the chain alone is satisfied
    code, message = _verify(signing)
    assert code == 1
    assert f"checkpoint 1 (event #{events[3].seq}" in message
    assert "no longer has the checkpointed hash" in message
    # and no new checkpoint vouches for the rewritten chain
    with pytest.raises(checkpoints.CheckpointError, match="no longer holds"):
        checkpoints.write_checkpoint()
    assert len(_lines(signing)) == 2


def _delete_from(seq: int) -> None:
    _raw_sql_allowed()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE seq >= %s", [seq])
    last = AuditEvent.objects.filter(seq__lt=seq).order_by("-seq").first()
    if last is None:
        AuditChainHead.objects.filter(pk=1).delete()
    else:
        AuditChainHead.objects.filter(pk=1).update(seq=last.seq, hash=last.hash, at=last.at)


@pytest.mark.django_db
def test_deleted_tail_is_caught(signing):
    events = _append(3)
    checkpoints.write_checkpoint()
    tail = _append(2)
    checkpoints.write_checkpoint()
    _delete_from(tail[0].seq)
    assert not AuditEvent.objects.filter(seq__gte=tail[0].seq).exists()
    assert _verify() == (0, "")
    code, message = _verify(signing)
    assert code == 1
    assert f"checkpoint 2 (event #{tail[1].seq}" in message
    assert "gone from the trail" in message
    # the break is recorded (admins are told, docs/notifications.md) after the surviving events
    head = AuditChainHead.objects.get(pk=1)
    assert head.seq == events[-1].seq + 1
    assert AuditEvent.objects.get(seq=head.seq).action == "audit.checkpoint.failed"


@pytest.mark.django_db
def test_truncated_log_is_caught_at_the_first_checkpoint(signing):
    _append(2)
    checkpoints.write_checkpoint()
    _append(1)
    checkpoints.write_checkpoint()
    _delete_from(1)
    assert not AuditEvent.objects.exists()
    assert _verify() == (0, "")
    code, message = _verify(signing)
    assert code == 1
    assert "checkpoint 1 " in message and "gone from the trail" in message


@pytest.mark.django_db
def test_without_a_key_no_checkpoint_is_written(tmp_path):
    with (
        override_settings(AUDIT_SIGNING_KEY="", AUDIT_CHECKPOINT_DIR=tmp_path),
        pytest.raises(CommandError, match="AUDIT_SIGNING_KEY is not set"),
    ):
        call_command("audit_checkpoint")
    assert not (tmp_path / checkpoints.FILENAME).exists()


@pytest.mark.django_db
def test_schedule_runs_the_checkpoint_task_every_15_minutes(signing):
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    from opsportal.audit.tasks import write_checkpoint

    # Transactional tests flush every table, migration-made rows included: run the migration's
    # own (idempotent) function again rather than depend on test order.
    import_module("opsportal.audit.migrations.0008_checkpoint_schedule").create(apps, None)
    schedule = Schedule.objects.get(func="opsportal.audit.tasks.write_checkpoint")
    assert (schedule.schedule_type, schedule.minutes, schedule.repeats) == ("I", 15, -1)
    event = _append(1)[0]
    assert f"event #{event.seq}" in write_checkpoint()
    assert _lines(signing)[-1]["head"] == event.hash


@pytest.mark.django_db
def test_truncate_is_refused_on_postgresql(postgres_only):
    from django.db.utils import DatabaseError

    events = _append(1)
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('opsportal.allow_truncate', 'off', true)")
        # the owner's usual bypass of row triggers does not reach it either
        cur.execute("SET LOCAL session_replication_role = replica")
        with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic():
            cur.execute("TRUNCATE audit_auditevent")
        cur.execute("SET LOCAL session_replication_role = origin")
    assert AuditEvent.objects.filter(seq=events[0].seq).exists()


@pytest.mark.django_db
def test_row_edits_are_refused_in_replica_mode_too(postgres_only):
    from django.db.utils import DatabaseError

    event = _append(1)[0]
    with connection.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cur.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [event.pk])
        cur.execute("SET LOCAL session_replication_role = origin")
    event.refresh_from_db()
    assert event.action != "x"


@pytest.mark.django_db(transaction=True)
def test_the_test_suite_may_still_truncate(roles):
    # pytest-django flushes this test's data with TRUNCATE afterwards: the suite's connections
    # allow it (tests/conftest.py); without that the teardown would fail.
    event = _append(1)[0]
    assert AuditEvent.objects.filter(seq=event.seq).exists()


@pytest.mark.django_db
def test_an_audit_export_writes_a_checkpoint_of_the_head_it_names(signing, client_for):
    client, _ = client_for("admin")
    event = _append(1)[0]
    response = client.get(reverse("audit:export_json"))
    assert response.status_code == 200
    payload = json.loads(b"".join(response.streaming_content))
    (checkpoint,) = _lines(signing)
    assert (checkpoint["seq"], checkpoint["head"]) == (event.seq, event.hash)
    assert payload["chain_head"] == {"seq": event.seq, "hash": event.hash}
    # no key: the export still works, no checkpoint
    with override_settings(AUDIT_SIGNING_KEY=""):
        assert client.get(reverse("audit:export_csv")).status_code == 200
    assert len(_lines(signing)) == 1


# --- copies off the machine: a URL and syslog ----------------------------------------------------
class _Collector(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, self.headers.get("Authorization"), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.daemon_threads = True
    server.received, server.status = [], 204
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.django_db
def test_each_checkpoint_is_posted_to_the_url_and_verifies_there(signing, collector, tmp_path):
    port = collector.server_address[1]
    with override_settings(AUDIT_CHECKPOINT_URL=f"http://ops:s%3Acret@127.0.0.1:{port}/cp/k3y"):
        _append(2)
        call_command("audit_checkpoint")
        _append(1)
        call_command("audit_checkpoint")
    kept = (signing / checkpoints.FILENAME).read_text().splitlines()
    assert [body.decode() for _, _, body in collector.received] == kept
    path, authorization, _ = collector.received[0]
    assert path == "/cp/k3y"
    assert authorization == "Basic " + base64.b64encode(b"ops:s:cret").decode()
    # The collector's copy is a checkpoint directory of its own.
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / checkpoints.FILENAME).write_text(
        "".join(b.decode() + "\n" for *_, b in collector.received)
    )
    assert _verify(copy) == (0, "")
    assert not AuditEvent.objects.filter(action=CHECKPOINT_FAILED_ACTION).exists()


@pytest.mark.django_db
def test_a_failed_copy_is_audited_and_the_checkpoint_still_kept(signing, collector):
    port = collector.server_address[1]
    collector.status = 503
    with override_settings(AUDIT_CHECKPOINT_URL=f"http://ops:pw@127.0.0.1:{port}/s3cret-path"):
        _append(1)
        call_command("audit_checkpoint")
    assert len(_lines(signing)) == 1
    failed = AuditEvent.objects.get(action=CHECKPOINT_FAILED_ACTION)
    assert failed.changes == {
        "reason": "127.0.0.1 answered HTTP 503 to the checkpoint",
        "via": checkpoints.VIA_URL,
    }
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    with override_settings(AUDIT_CHECKPOINT_URL=f"http://127.0.0.1:{dead}/s3cret-path"):
        call_command("audit_checkpoint")
    assert len(_lines(signing)) == 2
    reasons = AuditEvent.objects.filter(action=CHECKPOINT_FAILED_ACTION).values_list(
        "message", flat=True
    )
    assert "127.0.0.1 did not take the checkpoint (ConnectionRefusedError)" in reasons
    assert not any("s3cret" in r or "pw" in r for r in reasons)


@pytest.mark.django_db
def test_each_checkpoint_goes_to_syslog_over_udp(signing):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(5)
        port = listener.getsockname()[1]
        with override_settings(AUDIT_CHECKPOINT_SYSLOG=f"127.0.0.1:{port}"):
            _append(1)
            call_command("audit_checkpoint")
        message = listener.recv(4096).decode()
    (line,) = (signing / checkpoints.FILENAME).read_text().splitlines()
    # <38>: facility auth (4) * 8 + severity info (6)
    assert message == f"<38>{checkpoints.SYSLOG_TAG}: {line}"


@pytest.mark.django_db
def test_each_checkpoint_goes_to_a_local_syslog_socket(signing, tmp_path):
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(path)
        listener.settimeout(5)
        with override_settings(AUDIT_CHECKPOINT_SYSLOG=path):
            call_command("audit_checkpoint")
        message = listener.recv(4096).decode()
    (line,) = (signing / checkpoints.FILENAME).read_text().splitlines()
    assert message.endswith(f"{checkpoints.SYSLOG_TAG}: {line}")
    with override_settings(AUDIT_CHECKPOINT_SYSLOG=str(tmp_path / "gone.sock")):
        call_command("audit_checkpoint")  # a missing socket: audited, the checkpoint still kept
    assert len(_lines(signing)) == 2
    failed = AuditEvent.objects.get(action=CHECKPOINT_FAILED_ACTION)
    assert failed.changes["via"] == checkpoints.VIA_SYSLOG
    assert failed.changes["reason"].endswith("did not take the checkpoint (FileNotFoundError)")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/dev/log", ("/dev/log", None)),
        ("logs.example.com:514", (("logs.example.com", 514), socket.SOCK_DGRAM)),
        ("udp://10.0.0.5:5514", (("10.0.0.5", 5514), socket.SOCK_DGRAM)),
        ("tcp://[2001:db8::1]:601", (("2001:db8::1", 601), socket.SOCK_STREAM)),
    ],
)
def test_syslog_addresses(value, expected):
    assert checkpoints.syslog_address(value) == expected


@pytest.mark.parametrize("value", ["logs.example.com", "ftp://h:1", "h:²", "tcp://:514"])
def test_a_bad_syslog_address_is_named(value):
    with pytest.raises(checkpoints.CheckpointError, match="AUDIT_CHECKPOINT_SYSLOG is not"):
        checkpoints.syslog_address(value)
