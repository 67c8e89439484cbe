"""No secret in any notification (the no-leak test, extended): credential-shaped sentinels
planted in every reason, note and error that flows into a message, and in a channel's own
webhook URL, are found in no e-mail, no webhook body, no delivery log (row or page), no
notification row, no django-q2 task row and no page an admin reads.

The sentinels are the no-leak test's own (``tests/core/leakhunt.py``): each names itself even
when cut, so a partial leak is found too.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone

from environments import services as env_services
from imports import engine as import_engine
from imports import services as import_services
from notifications import engine, services
from notifications.models import Delivery, Notification
from opsportal.audit.models import AuditEvent
from runbooks import services as rb_services
from tests.core import leakhunt
from tests.imports.factories import CLEAN, make_job

from .conftest import committed

pytestmark = pytest.mark.django_db

PLAN = """# Release

## Ship

- [ ] Promote the build
- [ ] Smoke test
- [ ] Announce
"""


def test_no_secret_reaches_a_message_a_webhook_or_the_delivery_log(
    people, prod, receiver, settings, tmp_path, monkeypatch, caplog
):
    settings.MEDIA_ROOT = tmp_path / "media"
    sentinels = leakhunt.Sentinels()
    census = leakhunt.Census(sentinels)
    make = sentinels.for_input
    op, op2, ap, admin = people["op"], people["op2"], people["ap"], people["admin"]

    # A channel whose own URL is a secret (its path is the token), on a receiver that echoes
    # the path it was called on in its error text, as some services do.
    hook_value = make("channel").make("webhook URL (channel)", "webhook_path")
    hook_url = hook_value.replace("https://api.example.com", receiver.url)
    receiver.script = [500, 500, 200]  # the first message fails on both channels
    receiver.echo_path = True
    with committed():
        channel = services.channel_create(actor=admin, name="#ops", kind="slack", url=hook_url)
        services.channel_create(
            actor=admin, name="#json", kind="webhook", url=receiver.hook("json")
        )

    with committed():
        cr = env_services.configvar_save(
            actor=op, environment=prod, key="FEATURE_FLAG", value="on", is_secret=False,
            reason=make("cr reason").prose("change request reason"),
        ).change_request  # fmt: skip
    with committed():
        env_services.changerequest_reject(
            actor=ap, change_request=cr, reason=make("reject").prose("rejection reason")
        )
    version = rb_services.runbook_import(actor=op, text=PLAN, source_name="release.md")
    now = timezone.now()
    with committed():
        run = rb_services.run_start(
            actor=op, version=version, environment=prod, planned_start=now,
            planned_end=now + timedelta(hours=1),
        )  # fmt: skip
    steps = list(run.step_runs.select_related("step").order_by("step__order"))
    with committed():
        rb_services.step_sign(actor=op, step_run=steps[0], note=make("note").prose("sign note"))
        rb_services.step_skip(actor=op, step_run=steps[1], reason=make("skip").prose("skip"))
        rb_services.step_fail(actor=op2, step_run=steps[2], note=make("fail").prose("fail note"))
    with committed():
        rb_services.run_abort(actor=op2, run=run, reason=make("abort").prose("abort reason"))

    failure = make("import error").prose("import error")

    def dying(*args, **kwargs):
        raise RuntimeError(failure)

    job = make_job(op, CLEAN / "users.csv")
    import_services.job_confirm(actor=op, job=job, enqueue=False)
    monkeypatch.setattr(import_engine, "apply_batch", dying)
    with committed(), contextlib.suppress(RuntimeError):
        import_services.job_apply(job_id=job.pk)
    for action in ("changerequest.created", "changerequest.rejected", "runbook.step.signed_off",
                   "runbook.step.skip_requested", "runbook.step.failed", "runbook.run.aborted",
                   "import.job.failed", "notification.channel.created"):  # fmt: skip
        assert AuditEvent.objects.filter(action=action).exists(), action
    engine.tick(timezone.now() + timedelta(minutes=5))  # the retries go out too

    # every kind of message went out, so the search below searched something
    events = set(Notification.objects.values_list("event", flat=True))
    assert {"changerequest.submitted", "changerequest.rejected", "runbook.second_needed",
            "runbook.step_failed", "runbook.run_aborted", "import.failed"} <= events  # fmt: skip
    assert len(mail.outbox) >= 6
    assert len(receiver.posts) >= 2 * len(events)
    assert Delivery.objects.filter(channel=channel).exclude(last_error="").exists()

    for message in mail.outbox:
        census.scan(
            "e-mail", f"to {message.to} {message.subject[:60]}", message.message().as_string()
        )
    for post in receiver.posts:
        census.scan("webhook body", post["path"][:40], post["raw"].decode("utf-8", "replace"))
        census.scan("webhook headers", post["path"][:40], repr(post["headers"]))
    for surface, where, text in leakhunt.database_rows(connection):
        if where.startswith(("notifications_", "django_q_")):
            census.scan(surface, where, text)
    for surface, where, text in leakhunt.django_q_documents():
        census.scan(surface, where, text)
    for record in caplog.records:  # the worker's log lines (a failed attempt says why)
        census.scan("log", record.name, record.getMessage())
    viewer = Client()
    viewer.force_login(admin)
    pages = ["/notifications/deliveries/", "/notifications/channels/", "/",
             f"/notifications/channels/{channel.pk}/edit/", "/notifications/waiting/"]  # fmt: skip
    for url in pages:
        census.scan("page", url, viewer.get(url).content.decode())
    assert census.searched["e-mail"] and census.searched["webhook body"] and census.searched["log"]
    assert not census.findings, census.report(census.findings)
