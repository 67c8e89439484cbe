"""Every event produces exactly one message per subscribed channel (and per recipient whose
preference says so) once its transaction commits, and nothing at all when it rolls back.

Each scenario makes the event happen through the app's own services (as a page would), with four
generic-JSON channels on a local receiver: one portal-wide hearing everything, one hearing only
this event (on the event's project, or portal-wide for events without one), one hearing another
event, and one of another project. Every scenario asserts the audit event it caused.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from environments import services as env_services
from environments.models import ChangeRequest, ConfigVar
from imports import engine as import_engine
from imports import services as import_services
from imports.models import ReviewItem
from notifications import engine, services
from notifications.models import Delivery, DeliveryStatus, Notification
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import chain_verification_failed
from runbooks import services as rb_services
from tests.factories import ProjectFactory
from tests.imports.factories import CLEAN, apply_file, make_job

from .conftest import committed

pytestmark = pytest.mark.django_db

PLAN = """# Release

## Ship

- [ ] Promote the build
- [ ] Smoke test
"""


class Boom(Exception):
    pass


# --- scenarios: (setup, act) -> the audit action act records ------------------------------------
def _cr(ctx, key="FEATURE_FLAG", value="on"):
    result = env_services.configvar_save(
        actor=ctx.op, environment=ctx.prod, key=key, value=value, is_secret=False,
        reason="turn it on for the launch",
    )  # fmt: skip
    return result.change_request


def _run(ctx, env=None, actor=None):
    version = rb_services.runbook_import(actor=ctx.op, text=PLAN, source_name="release.md")
    now = timezone.now()
    return rb_services.run_start(
        actor=actor or ctx.op, version=version, environment=env or ctx.prod,
        planned_start=now, planned_end=now + timedelta(hours=1),
    )  # fmt: skip


def _steps(run):
    return list(run.step_runs.select_related("step").order_by("step__order"))


def sc_cr_submitted(ctx):
    def act():
        _cr(ctx)
        return "changerequest.created"

    return act, {"anna", "april", "ada"}


def sc_cr_approved(ctx):
    cr = _cr(ctx)

    def act():
        env_services.changerequest_approve(actor=ctx.ap, change_request=cr, reason="checked")
        return "changerequest.approved"

    return act, {"otto"}


def sc_cr_rejected(ctx):
    cr = _cr(ctx)

    def act():
        env_services.changerequest_reject(actor=ctx.ap, change_request=cr, reason="not now")
        return "changerequest.rejected"

    return act, {"otto"}


def sc_cr_withdrawn(ctx):
    cr = _cr(ctx)

    def act():
        env_services.changerequest_withdraw(actor=ctx.op, change_request=cr, reason="later")
        return "changerequest.withdrawn"

    return act, set()  # approvers hear of it only if they asked to (off by default)


def sc_cr_stale(ctx):
    first = _cr(ctx, value="on")
    env_services.configvar_save(
        actor=ctx.op2, environment=ctx.prod, key="FEATURE_FLAG", value="off", is_secret=False,
        reason="off for now",
    )  # fmt: skip

    def act():
        env_services.changerequest_approve(actor=ctx.ap, change_request=first, reason="ok")
        return "changerequest.stale"

    return act, {"olga"}  # the author of the request that went stale


def sc_second_needed(ctx):
    run = _run(ctx)

    def act():
        rb_services.step_sign(actor=ctx.op, step_run=_steps(run)[0], note="promoted")
        return "runbook.step.signed_off"

    return act, {"anna", "april", "ada"}


def sc_step_failed(ctx):
    run = _run(ctx)

    def act():
        rb_services.step_fail(actor=ctx.op2, step_run=_steps(run)[0], note="smoke test red")
        return "runbook.step.failed"

    return act, {"otto"}


def sc_run_completed(ctx):
    run = _run(ctx, env=ctx.dev)
    for sr in _steps(run):
        rb_services.step_sign(actor=ctx.op, step_run=sr)

    def act():
        rb_services.run_complete(actor=ctx.op2, run=run)
        return "runbook.run.completed"

    return act, set()  # off by default


def sc_run_aborted(ctx):
    run = _run(ctx)

    def act():
        rb_services.run_abort(actor=ctx.op2, run=run, reason="window closed")
        return "runbook.run.aborted"

    return act, set()  # off by default


def _queued(ctx, path):
    job = make_job(ctx.op, path)
    return import_services.job_confirm(actor=ctx.op, job=job, enqueue=False)


def sc_import_finished(ctx):
    job = _queued(ctx, CLEAN / "users.csv")

    def act():
        import_services.job_apply(job_id=job.pk)  # what the worker runs
        return "import.job.completed"

    return act, {"otto"}


def sc_import_failed(ctx):
    job = _queued(ctx, CLEAN / "users.csv")

    def act():
        def dying(*args, **kwargs):
            raise RuntimeError("worker killed")

        ctx.monkeypatch.setattr(import_engine, "apply_batch", dying)
        with contextlib.suppress(RuntimeError):
            import_services.job_apply(job_id=job.pk)
        return "import.job.failed"

    return act, {"otto"}


def sc_import_needs_review(ctx):
    apply_file(ctx.op, CLEAN / "users.csv")
    job = _queued(ctx, CLEAN / "orders.csv")  # no product settings: commissions wait

    def act():
        import_services.job_apply(job_id=job.pk)
        assert ReviewItem.objects.open().filter(job=job).exists()
        return "import.job.completed"

    return act, {"otto", "anna", "april", "ada"}


def sc_hygiene_error(ctx):
    cr = _cr(ctx, key="STRIPE_SECRET_KEY", value="sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc")

    def act():
        env_services.changerequest_approve(actor=ctx.ap, change_request=cr, reason="ok")
        return "changerequest.applied"

    return act, set()  # off by default: the project's channels carry it


def sc_rotation_due(ctx):
    cr = env_services.configvar_save(
        actor=ctx.op, environment=ctx.prod, key="SESSION_SECRET", is_secret=True,
        value="a-session-secret-0123456789abcdef", owner="Otto", rotation_period_days=30,
        reason="track its rotation",
    ).change_request  # fmt: skip
    env_services.changerequest_approve(actor=ctx.ap, change_request=cr, reason="ok")
    assert AuditEvent.objects.filter(action="configvar.created").exists()
    # 40 days later (time travel, not a change anyone makes)
    ConfigVar.objects.filter(key="SESSION_SECRET").update(
        last_rotated_at=timezone.now() - timedelta(days=40)
    )

    def act():
        engine.scan(timezone.now())
        return "configvar.rotation_due"

    return act, {"otto"}


def sc_audit_failure(ctx):
    def act():
        broken = SimpleNamespace(seq=7, reason="the row was altered after it was written")
        chain_verification_failed(result=SimpleNamespace(broken=broken, checked=6), via="the test")
        return "audit.chain.verify_failed"

    return act, {"ada"}


def _recurring(ctx):
    """A daily recurring run of ``PLAN`` on prod whose period began 3 hours ago, grace 1 hour."""
    from operations import services as op_services

    version = rb_services.runbook_import(actor=ctx.op, text=PLAN, source_name="daily.md")
    began = timezone.localtime() - timedelta(hours=3)
    op_services.schedule_create(
        actor=ctx.op, runbook=version.runbook, environment=ctx.prod, frequency="daily",
        at_time=began.time().replace(second=0, microsecond=0), grace_hours=1,
        starts_at=began - timedelta(minutes=5),
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="schedule.created").exists()
    return op_services


def sc_schedule_run_overdue(ctx):
    op_services = _recurring(ctx)
    op_services.scheduled_runs_create_due(now=timezone.now())
    assert AuditEvent.objects.filter(action="schedule.run.created").exists()

    def act():
        engine.scan(timezone.now())
        return "schedule.run.overdue"

    return act, {"otto"}


def sc_schedule_run_failed(ctx):
    op_services = _recurring(ctx)
    ctx.op.groups.clear()  # the owner lost the role that starts runs

    def act():
        op_services.scheduled_runs_create_due(now=timezone.now())
        return "schedule.run.failed"

    return act, {"otto"}


SCENARIOS = {
    "changerequest.submitted": (sc_cr_submitted, True),
    "changerequest.approved": (sc_cr_approved, True),
    "changerequest.rejected": (sc_cr_rejected, True),
    "changerequest.withdrawn": (sc_cr_withdrawn, True),
    "changerequest.stale": (sc_cr_stale, True),
    "runbook.second_needed": (sc_second_needed, True),
    "runbook.step_failed": (sc_step_failed, True),
    "runbook.run_completed": (sc_run_completed, True),
    "runbook.run_aborted": (sc_run_aborted, True),
    "import.finished": (sc_import_finished, False),
    "import.failed": (sc_import_failed, False),
    "import.needs_review": (sc_import_needs_review, False),
    "hygiene.error": (sc_hygiene_error, True),
    "rotation.due": (sc_rotation_due, True),
    "audit.failure": (sc_audit_failure, False),
    "schedule.run_overdue": (sc_schedule_run_overdue, True),
    "schedule.run_failed": (sc_schedule_run_failed, True),
}


@pytest.fixture
def ctx(people, prod, dev, monkeypatch, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return SimpleNamespace(
        op=people["op"], op2=people["op2"], ap=people["ap"], ap2=people["ap2"],
        admin=people["admin"], prod=prod, dev=dev, project=prod.project, monkeypatch=monkeypatch,
    )  # fmt: skip


def _channels(ctx, receiver, event, with_project):
    other_project = ProjectFactory(name="other.example", slug="other-example")
    make = services.channel_create
    with committed():
        chans = {
            "all": make(actor=ctx.admin, name="#all", kind="webhook", url=receiver.hook("all")),
            "this": make(
                actor=ctx.admin, name="#this", kind="webhook", url=receiver.hook("this"),
                project=ctx.project if with_project else None, events=[event],
            ),
            "other": make(
                actor=ctx.admin, name="#other", kind="webhook", url=receiver.hook("other"),
                project=ctx.project if with_project else None,
                events=["import.failed" if event != "import.failed" else "import.finished"],
            ),
            "elsewhere": make(
                actor=ctx.admin, name="#elsewhere", kind="webhook",
                url=receiver.hook("elsewhere"), project=other_project,
            ),
        }  # fmt: skip
    assert AuditEvent.objects.filter(action="notification.channel.created").count() == 4
    return chans


def _posts_for(receiver, event) -> dict[str, int]:
    counts: dict[str, int] = {}
    for post in receiver.posts:
        if (post["json"] or {}).get("event") == event:
            name = post["path"].rsplit("/", 1)[-1].split("XyZ")[0]
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.parametrize("event", list(SCENARIOS))
def test_one_message_per_subscribed_channel_after_commit(event, ctx, receiver):
    scenario, with_project = SCENARIOS[event]
    chans = _channels(ctx, receiver, event, with_project)
    with committed():
        act, expected = scenario(ctx)
    mail.outbox.clear()
    receiver.posts.clear()
    before = set(Notification.objects.filter(event=event).values_list("pk", flat=True))

    with committed():
        with transaction.atomic():
            action = act()
            # inside the transaction nothing is told yet
            assert not Notification.objects.filter(event=event).exclude(pk__in=before).exists()
        assert not [p for p in receiver.posts if (p["json"] or {}).get("event") == event]
    assert AuditEvent.objects.filter(action=action).exists()

    notes = Notification.objects.filter(event=event).exclude(pk__in=before)
    assert notes.count() == 1, [n.subject for n in notes]
    note = notes.get()
    by_channel = {
        name: Delivery.objects.filter(notification=note, channel=chan).count()
        for name, chan in chans.items()
    }
    portal_wide = {"all": 1, "this": 1, "other": 0, "elsewhere": 0}
    assert by_channel == portal_wide
    assert _posts_for(receiver, event) == {"all": 1, "this": 1}
    assert (
        not Delivery.objects.filter(notification=note)
        .exclude(status__in=[DeliveryStatus.SENT])
        .exists()
    )

    # e-mail: once to each recipient whose preference (the default here) says so
    emails = [m for m in mail.outbox if note.subject in m.subject]
    assert sorted(to for m in emails for to in m.to) == sorted(f"{u}@example.com" for u in expected)
    for message in emails:
        assert f"https://ops.example.test{note.url}" in message.body
        assert "/notifications/preferences/" in message.body

    # the one-minute tick finds nothing left to tell: still one of each
    engine.tick(timezone.now())
    assert Notification.objects.filter(event=event).exclude(pk__in=before).count() == 1
    assert _posts_for(receiver, event) == {"all": 1, "this": 1}


@pytest.mark.parametrize("event", list(SCENARIOS))
def test_nothing_is_told_when_the_transaction_rolls_back(event, ctx, receiver):
    scenario, with_project = SCENARIOS[event]
    _channels(ctx, receiver, event, with_project)
    with committed():
        act, _expected = scenario(ctx)
    mail.outbox.clear()
    receiver.posts.clear()
    before_events = AuditEvent.objects.count()
    before = Notification.objects.count()

    with pytest.raises(Boom), committed(), transaction.atomic():
        act()
        raise Boom
    engine.process_events()  # the sweep finds nothing either: the event never committed
    engine.tick(timezone.now())

    assert AuditEvent.objects.count() == before_events
    assert Notification.objects.count() == before
    assert not mail.outbox
    assert not receiver.posts


def test_a_change_request_waits_in_the_queue_and_leaves_it_when_decided(ctx, receiver):
    """The e-mail and the queue say the same thing; the decision empties both."""
    from notifications.queue import collect

    with committed():
        cr = _cr(ctx)
    assert [i.url for i in collect(ctx.ap)] == [cr.get_absolute_url()]
    with committed():
        env_services.changerequest_approve(actor=ctx.ap2, change_request=cr, reason="fine")
    assert collect(ctx.ap) == []
    assert ChangeRequest.objects.get(pk=cr.pk).status == "applied"
    assert AuditEvent.objects.filter(action="changerequest.applied", actor=ctx.ap2).exists()


def test_a_broken_checkpoint_reaches_the_admins_once_a_day(people, receiver, tmp_path):
    """``audit_verify --checkpoints`` finding a checkpoint that no longer verifies records
    ``audit.checkpoint.failed``; admins are told, once a day for the same break."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from django.test import override_settings

    from opsportal.audit import checkpoints

    key = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    with committed():
        services.channel_create(
            actor=people["admin"], name="#all", kind="webhook", url=receiver.hook("all")
        )
    settings = {
        "AUDIT_SIGNING_KEY": base64.b64encode(key).decode(),
        "AUDIT_SIGNING_KEY_ID": "",
        "AUDIT_VERIFY_KEYS": {},
        "AUDIT_CHECKPOINT_DIR": tmp_path,
    }
    with override_settings(**settings):
        checkpoints.write_checkpoint()
        path = tmp_path / checkpoints.FILENAME
        line = path.read_text().replace('"seq":', '"seq":9', 1)  # a forged line
        path.write_text(line)
        for _ in range(2):
            with pytest.raises(CommandError), committed():
                call_command("audit_verify", checkpoints=str(tmp_path))
    assert AuditEvent.objects.filter(action="audit.checkpoint.failed").count() == 2
    note = Notification.objects.get(event="audit.failure")
    assert note.subject == "Audit checkpoint failed"
    assert "manage.py audit_verify --checkpoints" in note.body
    assert [m.to for m in mail.outbox if "checkpoint" in m.subject] == [["ada@example.com"]]
    assert len([b for b in receiver.bodies() if b["event"] == "audit.failure"]) == 1
