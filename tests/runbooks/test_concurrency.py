"""Two operators sign the same step at the same moment: exactly one sign-off is recorded."""

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from opsportal.audit.models import AuditEvent
from runbooks import services
from runbooks.choices import StepStatus
from runbooks.models import StepRun

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
