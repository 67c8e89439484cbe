"""A redactable, still verifiable audit trail (issue 11, item 4).

Format 2 events hash salted per-field commitments, so a field's value can be removed while the
chain still verifies; the redaction is itself an audit event; and every other change — an
UPDATE in SQL, a redacted event altered, a redaction made behind the portal's back, a deleted
event, a moved head — is still caught. Format 1 chains are upgraded by migration 0006.
"""

import csv
import io
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.urls import reverse

from opsportal.audit import chain
from opsportal.audit.models import AuditChainHead, AuditEvent
from opsportal.audit.seeding import seed_audit_events
from opsportal.audit.services import audit_event_redact, record
from opsportal.audit.upgrade import upgrade_chain

SENTINEL = "SentinelLane"  # personal data an erasure request names: plain words, never masked
PERSONAL = f"Jane Roe, 12 {SENTINEL}, Bandung"
TRIGGER = "audit_event_append_only"


def _record(**kwargs) -> AuditEvent:
    with transaction.atomic():
        return record(**kwargs)


def _trail(actor) -> list[AuditEvent]:
    """Five events; the third carries the personal data in its message and in a changes key."""
    events = [_record(actor=actor, action="test.before", target_repr="KEY_1")]
    events.append(_record(actor=actor, action="test.before", target_repr="KEY_2", message="ok"))
    events.append(
        _record(
            actor=actor,
            action="member.updated",
            target_repr="member 42",
            changes={"address": {"before": "", "after": PERSONAL}, "status": "active"},
            message=f"Updated at the request of {PERSONAL}",
        )
    )
    events += [_record(actor=actor, action="test.after", target_repr=f"KEY_{i}") for i in (4, 5)]
    return events


def _verify() -> tuple[int, str]:
    try:
        call_command("audit_verify", workers=1)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, ""


def _trigger(enabled: bool) -> None:
    """What someone with database access would do first to edit the trail."""
    if connection.vendor == "postgresql":
        verb = "ENABLE ALWAYS" if enabled else "DISABLE"  # as migration 0010 leaves it
        with connection.cursor() as cur:
            cur.execute(f"ALTER TABLE audit_auditevent {verb} TRIGGER {TRIGGER}")


def _sql(sql: str, params=()) -> None:
    with connection.cursor() as cur:
        cur.execute(sql, params)


def _set(seq: int, **columns) -> None:
    """UPDATE one event's columns in SQL (dicts are written as JSON)."""
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    parts, params = [], []
    for column, value in columns.items():
        is_json = isinstance(value, dict | list) or column in ("changes", "redactions")
        parts.append(f"{column} = %s{cast if is_json else ''}")
        params.append(json.dumps(value) if isinstance(value, dict | list) else value)
    _sql(f"UPDATE audit_auditevent SET {', '.join(parts)} WHERE seq = %s", [*params, seq])  # noqa: S608


def _tables_holding(text: str) -> list[str]:
    """Every table (all columns, as text) whose rows contain ``text``."""
    found = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names(cur):
            quoted = connection.ops.quote_name(table)
            cur.execute(f"SELECT * FROM {quoted}")  # noqa: S608 (names from the catalogue)
            if any(text in repr(row) for row in cur.fetchall()):
                found.append(table)
    return found


def _redact(actor, event, field, reason="erasure request #7") -> AuditEvent:
    return audit_event_redact(actor=actor, event=event, field=field, reason=reason)


def _redaction_events():
    return AuditEvent.objects.filter(action=chain.REDACTED_ACTION).order_by("seq")


# --- redaction --------------------------------------------------------------------------------
@pytest.mark.django_db
def test_redacting_a_changes_key_and_the_message_keeps_the_chain_verifiable(user_factory):
    admin = user_factory("admin", username="root-admin")
    events = _trail(user_factory("operator"))
    target = events[2]
    assert _tables_holding(SENTINEL) == ["audit_auditevent"]  # the check below can fail

    _redact(admin, target, "changes.address", reason="erasure request #7")
    assert _verify() == (0, "")
    redacted = _redact(admin, target, "message", reason="erasure request #7 (reason too)")
    assert _verify() == (0, "")

    assert _tables_holding(SENTINEL) == []
    assert redacted.hash == target.hash and redacted.prev_hash == target.prev_hash
    assert redacted.message == "" and redacted.salt == ""
    assert redacted.changes == {"address": {"redacted": True}, "status": "active"}
    assert redacted.target_repr == "member 42"  # untouched
    assert set(redacted.redactions["commit"]) == {"changes.address", "message"}
    assert "changes.status" in redacted.redactions["salts"]

    first, second = _redaction_events()
    for event, field, reason in (
        (first, "changes.address", "erasure request #7"),
        (second, "message", "erasure request #7 (reason too)"),
    ):
        assert event.actor == admin and event.actor_label == "root-admin"
        assert event.changes == {"seq": target.seq, "field": field}
        assert event.message == reason
        assert (event.target_type, event.target_id) == ("audit.auditevent", str(target.seq))
        assert SENTINEL not in json.dumps(event.changes) + event.message + event.target_repr
    assert [e["event"] for e in redacted.redaction_log] == [first.seq, second.seq]
    assert AuditChainHead.objects.get().seq == second.seq


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["target_repr", "actor_label", "ip", "user_agent"])
def test_every_text_field_can_be_redacted(user_factory, field):
    from opsportal.audit.middleware import request_context

    admin = user_factory("admin")
    with request_context(ip="203.0.113.9", user_agent=f"Mozilla {SENTINEL}"):
        event = _record(actor=user_factory("operator"), action="t", target_repr=SENTINEL)
    redacted = _redact(admin, event, field)
    assert getattr(redacted, field) in ("", None)
    assert redacted.is_redacted(field)
    assert _verify() == (0, "")


@pytest.mark.django_db
def test_redaction_refusals_change_nothing(user_factory):
    admin = user_factory("admin")
    events = _trail(user_factory("operator"))
    target = events[2]
    _redact(admin, target, "message")
    cases = {
        "changes.nope": "has no field",
        "bogus": "has no field",
        "message": "already redacted",
    }
    for field, error in cases.items():
        with pytest.raises(ValidationError, match=error):
            _redact(admin, target, field)
    with pytest.raises(ValidationError, match="empty"):
        _redact(admin, events[0], "message")
    with pytest.raises(ValidationError, match="why"):
        _redact(admin, target, "changes.status", reason="  ")
    redaction = _redaction_events().get()
    with pytest.raises(ValidationError, match="verification reads"):
        _redact(admin, redaction, "changes.field")
    assert _redaction_events().count() == 1
    assert _verify() == (0, "")


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "operator", "approver"])
def test_only_admins_may_redact(user_factory, client_for, role):
    """Refused as ``permissions.require`` refuses everywhere: PermissionDenied, nothing written."""
    events = _trail(user_factory("operator"))
    trail = AuditEvent.objects.filter(seq__lte=events[-1].seq)  # (a login is audited too)
    before = list(trail.values_list("seq", "hash", "message", "changes"))
    user = user_factory(role)
    with pytest.raises(PermissionDenied, match="not allowed to redact"):
        _redact(user, events[2], "message")
    client, _ = client_for(role)
    url = reverse("audit:event_redact", args=[events[2].seq])
    assert client.get(url).status_code == 403
    assert client.post(url, {"field": "message", "reason": "x"}).status_code == 403
    assert list(trail.values_list("seq", "hash", "message", "changes")) == before
    assert not _redaction_events().exists()
    assert Group.objects.get(name="admin").permissions.filter(codename="redact_auditevent")
    assert not Group.objects.get(name=role).permissions.filter(codename="redact_auditevent")


@pytest.mark.django_db
def test_admin_redacts_through_the_page_and_every_view_shows_the_note(client_for, user_factory):
    client, _ = client_for("admin", username="erin")
    events = _trail(user_factory("operator"))
    target = events[2]
    page = client.get(target.get_absolute_url())
    assert page.status_code == 200 and b'data-testid="redact-link"' in page.content

    url = reverse("audit:event_redact", args=[target.seq])
    form = client.get(url)
    assert form.status_code == 200
    offered = [value for value, _ in form.context["form"].fields["field"].choices]
    assert offered == ["actor_label", "changes.address", "changes.status", "message", "target_repr"]
    response = client.post(url, {"field": "changes.address", "reason": "erasure request #7"})
    assert response.status_code == 302 and response.url == target.get_absolute_url()
    response = client.post(url, {"field": "message", "reason": ""})
    assert response.status_code == 200 and response.context["form"].errors["reason"]
    client.post(url, {"field": "message", "reason": "erasure request #7"})
    assert _redaction_events().count() == 2

    day = _redaction_events().first().at.astimezone(UTC).date().isoformat()
    note = f"redacted (by erin on {day}: erasure request #7)"
    detail = client.get(target.get_absolute_url()).content.decode()
    assert note in detail and SENTINEL not in detail
    listing = client.get(reverse("audit:event_list")).content.decode()
    assert note[:40] in listing and SENTINEL not in listing

    csv_body = b"".join(client.get(reverse("audit:export_csv")).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(csv_body)))
    header = rows[1]
    row = next(r for r in rows[2:] if r[0] == str(target.seq))
    assert row[header.index("message")] == note
    assert json.loads(row[header.index("changes")])["address"] == note
    json_body = b"".join(client.get(reverse("audit:export_json")).streaming_content).decode()
    item = next(e for e in json.loads(json_body)["events"] if e["seq"] == target.seq)
    assert item["message"] == note
    assert SENTINEL not in csv_body + json_body


@pytest.mark.django_db
def test_audit_redact_command(user_factory):
    admin = user_factory("admin", username="cli-admin")
    viewer = user_factory("viewer", username="cli-viewer")
    target = _trail(user_factory("operator"))[2]
    out = io.StringIO()
    call_command(
        "audit_redact",
        target.seq,
        "changes.address",
        reason="erasure",
        actor="cli-admin",
        stdout=out,
    )
    assert f"changes.address of event #{target.seq} redacted" in out.getvalue()
    with pytest.raises(CommandError, match="not allowed"):
        call_command("audit_redact", target.seq, "message", reason="x", actor=viewer.username)
    with pytest.raises(CommandError, match="already redacted"):
        call_command("audit_redact", target.seq, "changes.address", reason="again")
    call_command("audit_redact", target.seq, "message", reason="erasure, from the shell")
    first, second = _redaction_events()
    assert (first.actor, first.actor_label) == (admin, "cli-admin")
    assert (second.actor, second.actor_label) == (None, "system")
    assert second.user_agent == "manage.py audit_redact"
    assert _verify() == (0, "")


# --- tampering is still caught ---------------------------------------------------------------
@pytest.fixture
def redacted_trail(user_factory):
    admin = user_factory("admin")
    events = _trail(user_factory("operator"))
    _redact(admin, events[2], "changes.address")
    assert _verify() == (0, "")
    return events


@pytest.mark.django_db
def test_an_update_in_sql_of_another_event_is_still_caught(redacted_trail):
    other = redacted_trail[3]
    _trigger(False)
    _sql("UPDATE audit_auditevent SET target_repr = %s WHERE seq = %s", ["quietly", other.seq])
    code, message = _verify()
    assert code == 1 and f"#{other.seq}" in message and "altered" in message


@pytest.mark.django_db
@pytest.mark.parametrize(
    "column, value",
    [
        ("target_repr", "member 43"),  # a field that was not redacted
        ("message", "a different reason"),
        ("changes", {"address": {"redacted": True}, "status": "banned"}),
        ("changes", {"address": {"before": "", "after": "someone else"}, "status": "active"}),
        ("changes", {"address": {"redacted": True}}),  # a key removed
        ("action", "member.deleted"),
    ],
)
def test_a_redacted_event_with_another_field_altered_is_caught(redacted_trail, column, value):
    target = redacted_trail[2]
    _trigger(False)
    _set(target.seq, **{column: value})
    code, message = _verify()
    assert code == 1 and f"#{target.seq}" in message


@pytest.mark.django_db
def test_tampered_salts_or_commitments_of_a_redacted_event_are_caught(redacted_trail):
    target = AuditEvent.objects.get(seq=redacted_trail[2].seq)
    for change in ("salt", "commit"):
        redactions = json.loads(json.dumps(target.redactions))
        if change == "salt":
            redactions["salts"]["message"] = "00" * 16
        else:
            redactions["commit"]["changes.address"] = "0" * 64
        _trigger(False)
        _set(target.seq, redactions=redactions)
        code, message = _verify()
        assert code == 1 and f"#{target.seq}" in message
        _set(target.seq, redactions=target.redactions)
        assert _verify() == (0, "")


@pytest.mark.django_db
def test_a_redaction_made_behind_the_portal_is_caught(user_factory):
    """A valid-looking redaction written in SQL (the trigger lets its shape through) has no
    ``audit.event.redacted`` event: verification names it."""
    events = _trail(user_factory("operator"))
    target = events[2]
    row = AuditEvent.objects.filter(pk=target.pk).values("id", *chain.ROW_FIELDS, "hash").get()
    entry = {"path": "message", "event": 9999, "by": "mallory", "at": "2026-01-01T00:00:00+00:00"}
    updates = chain.redact(row, "message", entry)
    assert chain.compute_hash({**row, **updates}) == row["hash"]  # the hash alone would pass
    _set(target.seq, message="", salt="", redactions=updates["redactions"])
    code, message = _verify()
    assert code == 1 and f"#{target.seq}" in message
    assert "without the audit.event.redacted event" in message


@pytest.mark.django_db
def test_a_redacted_event_restored_from_a_backup_is_caught(redacted_trail):
    target = redacted_trail[2]  # the instance from before the redaction: a backup's copy
    _trigger(False)
    _set(target.seq, changes=target.changes, salt=target.salt, redactions=None)
    code, message = _verify()
    assert code == 1
    redaction = _redaction_events().get()
    assert f"#{redaction.seq}" in message and "not redacted" in message


@pytest.mark.django_db
def test_deleted_events_and_a_moved_head_are_still_caught(redacted_trail):
    redaction = _redaction_events().get()
    _trigger(False)
    _sql("DELETE FROM audit_auditevent WHERE seq = %s", [redacted_trail[3].seq])
    code, message = _verify()
    assert code == 1 and "deleted" in message

    _sql("DELETE FROM audit_auditevent WHERE seq >= %s", [redacted_trail[3].seq])
    head = AuditChainHead.objects.get()
    head.seq, head.hash = redacted_trail[2].seq, redacted_trail[2].hash
    head.save()  # the head moved back over the redaction event: a consistent, shorter chain
    code, message = _verify()
    assert code == 1 and "without the audit.event.redacted event" in message
    assert f"#{redaction.seq}" in message


@pytest.mark.django_db
def test_trigger_lets_only_a_redaction_through(postgres_only, redacted_trail):
    from django.db.utils import DatabaseError

    target = redacted_trail[3]
    row = AuditEvent.objects.filter(pk=target.pk).values("id", *chain.ROW_FIELDS, "hash").get()
    entry = {"path": "target_repr", "event": 1, "by": "x", "at": ""}
    fake = json.dumps(chain.redact(row, "target_repr", entry)["redactions"])
    refused = [
        ("UPDATE audit_auditevent SET message = 'x' WHERE seq = %s", []),
        ("UPDATE audit_auditevent SET target_repr = 'x', redactions = %s::jsonb, salt = '' "
         "WHERE seq = %s", [fake]),  # a value changed, not removed
        ("UPDATE audit_auditevent SET target_repr = '', redactions = %s::jsonb, salt = '', "
         "action = 'x' WHERE seq = %s", [fake]),  # a fixed column changed
        ("UPDATE audit_auditevent SET target_repr = '', redactions = %s::jsonb, "
         "hash = repeat('0', 64), salt = '' WHERE seq = %s", [fake]),
        ("UPDATE audit_auditevent SET target_repr = '', redactions = %s::jsonb WHERE seq = %s",
         [fake]),  # salt kept: the removed value could be brute-forced
        ("DELETE FROM audit_auditevent WHERE seq = %s", []),
    ]  # fmt: skip
    for sql, params in refused:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            _sql(sql, [*params, target.seq])
    redacted = AuditEvent.objects.get(seq=redacted_trail[2].seq)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        # a redacted value cannot be put back
        _sql(
            "UPDATE audit_auditevent SET changes = %s::jsonb WHERE seq = %s",
            [json.dumps(redacted_trail[2].changes), redacted.seq],
        )
    # the same shape as a real redaction goes through (and is then caught: no event for it)
    _sql(
        "UPDATE audit_auditevent SET target_repr = '', redactions = %s::jsonb, salt = '' "
        "WHERE seq = %s",
        [fake, target.seq],
    )
    assert _verify()[0] == 1


# --- the removed text is nowhere: a full dump -----------------------------------------------
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_removed_text_is_absent_from_a_full_pg_dump(postgres_only, user_factory):
    if not shutil.which("pg_dump"):
        pytest.skip("pg_dump is not installed")
    db = connection.settings_dict
    env = {**os.environ, **({"PGPASSWORD": db["PASSWORD"]} if db.get("PASSWORD") else {})}
    dump_cmd = [
        "pg_dump", "-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432),
        "-U", db["USER"], db["NAME"],
    ]  # fmt: skip

    def dump() -> str:
        return subprocess.run(dump_cmd, env=env, check=True, capture_output=True, text=True).stdout

    admin = user_factory("admin")
    target = _trail(user_factory("operator"))[2]
    assert SENTINEL in dump()  # the check can fail
    _redact(admin, target, "changes.address")
    _redact(admin, target, "message")
    assert SENTINEL not in dump()
    assert _verify() == (0, "")


# --- format 2 in detail ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fields",
    [
        {"actor_id": None, "environment_id": None, "job_id": None, "target_id": ""},
        {"actor_id": 7, "environment_id": 3, "job_id": 12, "target_id": "42"},
        {"action": 'quote " back\\slash', "request_id": "tab\tnew\nline", "tier": "é ü 漢"},
        {"target_type": "\u2028\x00\x1f", "at": "2026-01-01T00:00:00.000000+00:00"},
    ],
)
def test_hand_written_canonical_json_equals_the_general_encoder(fields):
    row = {
        "seq": 5,
        "at": datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
        "actor_id": 1,
        "action": "configvar.updated",
        "target_type": "environments.configvar",
        "target_id": "9",
        "environment_id": 2,
        "tier": "production",
        "request_id": "r1",
        "job_id": None,
        "prev_hash": "a" * 64,
        **fields,
    }
    commit = [("actor_label", "1" * 64), ('changes."x"\n', "2" * 64), ("user_agent", "3" * 64)]
    assert chain.canonical_json_v2(row, commit) == chain.canonical_json_v2_reference(row, commit)
    assert json.loads(chain.canonical_json_v2(row, commit))["v"] == 2


def test_field_salts_are_independent_pieces_of_one_stream():
    salt = "0123456789abcdef0123456789abcdef"
    fields = {
        "actor_label": "a", "target_repr": "t", "message": "", "ip": None, "user_agent": "u",
        "changes": {"b": 1, "a": [1, {"z": 2, "y": 3}]},
    }  # fmt: skip
    paths = chain.redactable_paths(fields)
    assert paths == ["actor_label", "changes.a", "changes.b", "target_repr", "user_agent"]
    salts = chain.field_salts(salt, paths)
    assert len(set(salts.values())) == len(paths) and all(len(s) == 16 for s in salts.values())
    expected = [
        (path, chain.commit(salts[path], path, chain.path_value(fields, path))) for path in paths
    ]
    assert chain.commitments(fields, salt) == expected
    # a text field commits its UTF-8 text; a changes key the canonical JSON of its value
    assert expected[1][1] == chain._SHA256(salts["changes.a"] + b'[1,{"y":3,"z":2}]').hexdigest()


@pytest.mark.django_db
def test_seeded_events_hash_as_record_does_and_can_be_redacted(user_factory):
    admin = user_factory("admin")
    _record(actor=admin, action="test.first")
    head = seed_audit_events(40, actors=[admin], environments=[], days=1, batch=16)
    _record(actor=admin, action="test.last")
    assert head == 41 and _verify() == (0, "")
    seeded = AuditEvent.objects.get(seq=20)
    assert seeded.salt and seeded.redactions is None
    _redact(admin, seeded, "ip")
    _redact(admin, seeded, "changes.field")
    assert _verify() == (0, "")


# --- the format 1 -> 2 upgrade (migration 0006) -------------------------------------------------
def _rewrite_as_format_1() -> None:
    """Turn the chain into what code before format 2 wrote (hash_v1, no salt)."""
    prev = chain.GENESIS_HASH
    rows = list(AuditEvent.objects.order_by("seq").values("id", *chain.ROW_FIELDS))
    _trigger(False)
    for row in rows:
        row["prev_hash"] = prev
        prev = chain.hash_v1(row)
        _sql(
            "UPDATE audit_auditevent SET salt = '', redactions = NULL, prev_hash = %s, hash = %s "
            "WHERE id = %s",
            [row["prev_hash"], prev, row["id"]],
        )
    _trigger(True)
    AuditChainHead.objects.filter(pk=1).update(hash=prev)


@pytest.mark.django_db
def test_upgrade_rehashes_an_intact_format_1_chain(user_factory):
    admin = user_factory("admin")
    events = _trail(user_factory("operator"))
    _rewrite_as_format_1()
    assert all(chain.format_of(r) == 1 for r in AuditEvent.objects.values("salt", "redactions"))
    assert _verify() == (0, "")  # format 1 verifies as before
    with pytest.raises(ValidationError, match="predates the redactable format"):
        _redact(admin, events[2], "message")
    # a format 2 event after them (another app's migration may record() before 0006 runs)
    late = _record(actor=admin, action="test.late", message="format 2 already")
    assert _verify() == (0, "")
    old_head = AuditChainHead.objects.get()
    with connection.cursor() as cur:
        indexes = connection.introspection.get_constraints(cur, "audit_auditevent")

    result = upgrade_chain(AuditEvent, AuditChainHead)
    assert result.broken is None and result.rehashed == old_head.seq
    assert _verify() == (0, "")
    assert not AuditEvent.objects.filter(salt="").exists()
    relinked = AuditEvent.objects.get(seq=late.seq)
    assert relinked.salt == late.salt and relinked.hash != late.hash
    with connection.cursor() as cur:  # the indexes rebuilt after the rewrite are all back
        assert connection.introspection.get_constraints(cur, "audit_auditevent") == indexes
        if connection.vendor == "postgresql":  # and the trigger in the mode it was in
            cur.execute("SELECT tgenabled FROM pg_trigger WHERE tgname = %s", [TRIGGER])
            assert cur.fetchone()[0] == "A"
    upgraded = AuditEvent.objects.get(seq=result.event_seq)
    assert upgraded.action == chain.UPGRADED_ACTION and upgraded.seq == old_head.seq + 1
    assert upgraded.changes["old_head_seq"] == old_head.seq
    assert upgraded.changes["old_head_hash"] == old_head.hash
    assert old_head.hash not in upgraded.message
    assert upgrade_chain(AuditEvent, AuditChainHead).event_seq is None  # once only

    # An event from before the upgrade: its value could be confirmed by brute force against the
    # format 1 head hash (a hash of the whole format 1 chain), so that is redacted with it.
    _redact(admin, AuditEvent.objects.get(seq=events[2].seq), "changes.address")
    upgraded = AuditEvent.objects.get(seq=result.event_seq)
    assert upgraded.changes["old_head_hash"] == chain.REDACTED
    assert _redaction_events().count() == 2
    assert _verify() == (0, "")


@pytest.mark.django_db
def test_upgrade_leaves_a_broken_format_1_chain_as_it_is(user_factory):
    admin = user_factory("admin")
    events = _trail(user_factory("operator"))
    _rewrite_as_format_1()
    _trigger(False)
    _sql("UPDATE audit_auditevent SET target_repr = 'forged' WHERE seq = %s", [events[1].seq])
    _trigger(True)
    before = list(AuditEvent.objects.order_by("seq").values_list("hash", flat=True))

    result = upgrade_chain(AuditEvent, AuditChainHead)
    assert result.rehashed == 0 and result.broken.seq == events[1].seq
    assert list(AuditEvent.objects.order_by("seq").values_list("hash", flat=True))[:5] == before
    note = AuditEvent.objects.get(seq=result.event_seq)
    assert note.changes["broken_seq"] == events[1].seq and "NOT upgraded" in note.message
    code, message = _verify()  # the break is still reported where it is
    assert code == 1 and f"#{events[1].seq}" in message
    with pytest.raises(ValidationError, match="predates the redactable format"):
        _redact(admin, events[2], "message")
    later = _record(actor=admin, action="test.later", message="new events are format 2")
    assert later.salt


@pytest.mark.django_db
def test_redacting_a_leaked_text_everywhere_also_hides_the_format_1_head(user_factory):
    """``audit_redact_text`` (the repair migrations' path) goes through the same redaction."""
    from opsportal.audit.services import audit_redact_text

    events = _trail(user_factory("operator"))
    _rewrite_as_format_1()
    upgraded = upgrade_chain(AuditEvent, AuditChainHead).event_seq
    assert audit_redact_text(actor=None, text=PERSONAL, reason="leaked personal data") == 2
    target = AuditEvent.objects.get(seq=events[2].seq)
    assert target.is_redacted("message") and target.is_redacted("changes.address")
    assert AuditEvent.objects.get(seq=upgraded).is_redacted("changes.old_head_hash")
    assert _redaction_events().count() == 3
    assert _tables_holding(SENTINEL) == []
    assert _verify() == (0, "")
