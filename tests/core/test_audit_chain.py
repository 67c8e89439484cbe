"""The audit chain: linking, append-only enforcement, tamper detection, concurrency."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections, transaction
from django.db.utils import DatabaseError

from opsportal.audit.chain import GENESIS_HASH, compute_hash, verify_chain
from opsportal.audit.models import AuditChainHead, AuditEvent
from opsportal.audit.services import record


def _append(n: int, actor=None, **kwargs) -> list[AuditEvent]:
    events = []
    for i in range(n):
        with transaction.atomic():
            events.append(record(actor=actor, action="test.event", target_repr=f"t{i}", **kwargs))
    return events


def _disable_trigger() -> None:
    """What someone with database access would do first to edit the trail."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")


def _verify() -> tuple[int, str]:
    try:
        call_command("audit_verify")
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


@pytest.mark.django_db
def test_events_link_into_a_chain(user_factory):
    user = user_factory("operator")
    first, second, third = _append(3, actor=user)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert [e.seq for e in (first, second, third)] == [
        first.seq,
        first.seq + 1,
        first.seq + 2,
    ]
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (third.seq, third.hash)
    assert third.actor_label == user.username
    assert _verify() == (0, "")


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the service's transaction"):
        record(actor=None, action="test.event")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_audit_row_rolls_back_with_the_change():
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        record(actor=None, action="test.event")
        1 / 0  # noqa: B018
    assert not AuditEvent.objects.exists()
    assert _verify()[0] == 0


@pytest.mark.django_db
def test_model_refuses_update_and_delete():
    (event,) = _append(1)
    event.message = "rewritten"
    with pytest.raises(ValidationError, match="append-only"):
        event.save()
    with pytest.raises(ValidationError, match="append-only"):
        event.delete()
    with pytest.raises(ValidationError, match="append-only"):
        AuditEvent.objects.filter(pk=event.pk).update(message="rewritten")
    with pytest.raises(ValidationError, match="append-only"):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).message == ""


@pytest.mark.django_db
def test_admin_shows_audit_events_read_only(client_for):
    client, _ = client_for("admin")
    (event,) = _append(1)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    change_url = f"/admin/audit/auditevent/{event.pk}/change/"
    page = client.get(change_url)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(change_url, {"message": "edited"}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/").status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).message == ""


@pytest.mark.django_db
def test_audit_verify_names_an_altered_row():
    events = _append(5)
    _disable_trigger()
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_auditevent SET message = %s WHERE seq = %s", ["quietly", events[2].seq]
        )
    code, message = _verify()
    assert code == 1
    assert f"#{events[2].seq}" in message
    assert "altered" in message


@pytest.mark.django_db
def test_audit_verify_detects_a_deleted_middle_row():
    events = _append(5)
    _disable_trigger()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[1].seq])
    code, message = _verify()
    assert code == 1
    assert f"#{events[2].seq}" in message
    assert "deleted" in message


@pytest.mark.django_db
def test_audit_verify_detects_a_deleted_last_row():
    events = _append(3)
    _disable_trigger()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE seq = %s", [events[-1].seq])
    code, message = _verify()
    assert code == 1
    assert "head" in message


@pytest.mark.django_db
def test_a_recomputed_hash_still_breaks_the_next_link():
    """Rewriting a row and its own hash is caught by the following event's prev_hash."""
    events = _append(3)
    row = AuditEvent.objects.filter(seq=events[1].seq).values().get()
    row["message"] = "forged"
    forged = compute_hash(row)
    _disable_trigger()
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE audit_auditevent SET message = %s, hash = %s WHERE seq = %s",
            ["forged", forged, events[1].seq],
        )
    code, message = _verify()
    assert code == 1
    assert f"#{events[2].seq}" in message


@pytest.mark.django_db
def test_postgres_trigger_refuses_update_and_delete(postgres_only):
    (event,) = _append(1)
    for sql in (
        "UPDATE audit_auditevent SET message = 'x' WHERE seq = %s",
        "DELETE FROM audit_auditevent WHERE seq = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cur,
        ):
            cur.execute(sql, [event.seq])
    assert AuditEvent.objects.get(seq=event.seq).message == ""
    assert _verify() == (0, "")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_linear_chain(postgres_only):
    writers, per_writer = 8, 50
    barrier = threading.Barrier(writers)
    errors = []

    def write():
        try:
            barrier.wait()
            for _ in range(per_writer):
                with transaction.atomic():
                    record(actor=None, action="test.concurrent")
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = list(AuditEvent.objects.order_by("seq").values("seq", "prev_hash", "hash"))
    assert len(events) == writers * per_writer
    assert [e["seq"] for e in events] == list(range(1, writers * per_writer + 1))
    assert len({e["prev_hash"] for e in events}) == len(events)  # no fork: no shared parent
    assert _verify() == (0, "")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("tamper", [None, "alter", "delete"])
def test_parallel_verification_stitches_ranges(postgres_only, tamper):
    events = _append(12)
    target = events[8]  # in the second of three ranges
    if tamper:
        with connection.cursor() as cur:
            cur.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
            if tamper == "alter":
                cur.execute(
                    "UPDATE audit_auditevent SET actor_label = 'x' WHERE seq = %s", [target.seq]
                )
            else:
                cur.execute("DELETE FROM audit_auditevent WHERE seq = %s", [target.seq])
            cur.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only")
    result = verify_chain(workers=3, parallel_from=2, in_processes=False)
    if tamper is None:
        assert result.ok and result.checked == 12
    else:
        assert not result.ok
        assert result.broken.seq == target.seq + (1 if tamper == "delete" else 0)

    # The same through the command in its own process, with forked range readers.
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    proc = subprocess.run(
        [sys.executable, "manage.py", "audit_verify", "--workers", "3", "--parallel-from", "2"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if tamper is None:
        assert proc.returncode == 0, proc.stderr
        assert "12 events" in proc.stdout
    else:
        assert proc.returncode == 1
        assert f"#{result.broken.seq}" in proc.stderr


@pytest.mark.django_db
def test_event_time_never_goes_back_along_the_chain(monkeypatch):
    from django.utils import timezone

    (first,) = _append(1)
    earlier = first.at - timezone.timedelta(hours=2)
    monkeypatch.setattr("opsportal.audit.services.timezone.now", lambda: earlier)
    (second,) = _append(1)
    assert second.at == first.at
    assert AuditChainHead.objects.get(pk=1).at == first.at
    assert _verify() == (0, "")
