"""Two operators sign the same step at the same moment: exactly one sign-off is recorded;
a sign-off racing the end of its run is ordered against it."""

import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from opsportal.audit.models import AuditEvent
from runbooks import services
from runbooks.choices import RunStatus, StepStatus
from runbooks.models import Run, StepRun

from .conftest import step_run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_signoff_exactly_one_wins(
    postgres_only, version, dev_env, start_run, operator, user_factory
):
    other = user_factory("operator", username="otto")
    run = start_run(version, dev_env)
    target = step_run(run, "Smoke test")
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def sign(user):
        try:
            barrier.wait(timeout=10)
            services.step_sign(actor=user, step_run=target, note=f"by {user}")
            results[user.username] = "ok"
        except ValidationError as exc:
            results[user.username] = " ".join(exc.messages)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign, args=(u,)) for u in (operator, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(results.values())[0] == "ok"
    loser = next(msg for msg in results.values() if msg != "ok")
    assert "already signed off this step" in loser
    assert list(results.values()).count("ok") == 1
    sr = StepRun.objects.get(pk=target.pk)
    assert sr.status == StepStatus.DONE
    assert results[sr.signed_by.username] == "ok"
    assert AuditEvent.objects.filter(action="runbook.step.signed_off").count() == 1


def _waits_on_lock(backend_pids: set[int]) -> bool:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE pid = ANY(%s) AND wait_event_type = 'Lock'",
            [list(backend_pids)],
        )
        return cur.fetchone()[0] > 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_signoff_racing_an_abort_never_lands_on_the_aborted_run(
    postgres_only, version, dev_env, start_run, operator, monkeypatch
):
    """The sign-off is inside its transaction (step row locked, run read as in progress) when
    the run is aborted: the abort must wait for it, so the sign-off is recorded before the
    abort, never after it on a closed run."""
    run = start_run(version, dev_env)
    target = step_run(run, "Smoke test")
    inside, release = threading.Event(), threading.Event()
    real_gate = services._gate

    def paused_gate(sr):
        inside.set()
        release.wait(30)
        return real_gate(sr)

    monkeypatch.setattr(services, "_gate", paused_gate)
    results: dict[str, str] = {}
    abort_pid: set[int] = set()

    def act(name, call):
        try:
            if name == "abort":
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_backend_pid()")
                    abort_pid.add(cur.fetchone()[0])
            call()
            results[name] = "ok"
        except ValidationError as exc:
            results[name] = " ".join(exc.messages)
        finally:
            connection.close()

    signer = threading.Thread(
        target=act, args=("sign", lambda: services.step_sign(actor=operator, step_run=target))
    )
    signer.start()
    assert inside.wait(10), "the sign-off never started"
    aborter = threading.Thread(
        target=act,
        args=("abort", lambda: services.run_abort(actor=operator, run=run, reason="drill")),
    )
    aborter.start()
    # Either the abort finishes while the sign-off is still open (the race), or it queues
    # behind the sign-off's lock on the run (the fix): wait for one of the two, not for a time.
    deadline = time.monotonic() + 20
    while aborter.is_alive() and not (abort_pid and _waits_on_lock(abort_pid)):
        assert time.monotonic() < deadline, "the abort neither finished nor waited"
        time.sleep(0.02)
    release.set()
    for t in (signer, aborter):
        t.join(timeout=30)
    events = list(
        AuditEvent.objects.filter(action__in=["runbook.step.signed_off", "runbook.run.aborted"])
        .order_by("seq")
        .values_list("action", flat=True)
    )
    # the sign-off held the run first: it commits, then the abort
    assert results == {"sign": "ok", "abort": "ok"}
    assert events == ["runbook.step.signed_off", "runbook.run.aborted"]
    assert StepRun.objects.get(pk=target.pk).status == StepStatus.DONE
    assert Run.objects.get(pk=run.pk).status == RunStatus.ABORTED
