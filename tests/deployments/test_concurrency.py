"""Concurrent duplicate posts of one external id record one deployment (PostgreSQL)."""

import threading

import pytest
from django.db import connection

from deployments import services
from deployments.models import Deployment, WebhookDelivery
from opsportal.audit.models import AuditEvent

SHA = "9b1d4c7e2a5f8b1d4c7e2a5f8b1d4c7e2a5f8b1d"
THREADS = 8


def _race(target, args_list):
    barrier = threading.Barrier(len(args_list))
    outcomes, errors = [], []

    def run(*args):
        try:
            barrier.wait()
            outcomes.append(target(*args))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=args) for args in args_list]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes, errors


@pytest.mark.postgres
def test_duplicate_posts_at_once_record_one_deployment(
    postgres_only, transactional_db, prod, operator
):
    def post(status):
        return services.deployment_record(
            actor=operator,
            environment=prod,
            sha=SHA,
            status=status,
            external_id="gha-run-77",
            provider="github_actions",
        )

    outcomes, errors = _race(post, [("in_progress",)] * THREADS)
    assert not errors, errors
    assert Deployment.objects.count() == 1
    assert [o.created for o in outcomes].count(True) == 1
    assert {o.deployment.pk for o in outcomes} == {Deployment.objects.get().pk}
    assert AuditEvent.objects.filter(action="deployment.recorded").count() == 1
    assert not AuditEvent.objects.filter(action="deployment.updated").exists()

    # The same run reports success from several steps at once: one update, audited once.
    outcomes, errors = _race(post, [("success",)] * THREADS)
    assert not errors, errors
    assert Deployment.objects.get().status == "success"
    assert [o.changed for o in outcomes].count(True) == 1
    assert AuditEvent.objects.filter(action="deployment.updated").count() == 1


@pytest.mark.postgres
def test_a_webhook_delivered_twice_at_once_is_acted_on_once(postgres_only, transactional_db, prod):
    def deliver(_n):
        return services.webhook_delivery_process(
            provider="vercel",
            delivery_id="evt_same",
            event_type="deployment.succeeded",
            sent_at=None,
            environment=prod,
            deployment={
                "provider": "vercel",
                "external_id": "dpl_x",
                "sha": SHA,
                "status": "success",
            },
        )

    outcomes, errors = _race(deliver, [(n,) for n in range(THREADS)])
    assert not errors, errors
    assert sorted(o.outcome for o in outcomes) == ["duplicate"] * (THREADS - 1) + ["recorded"]
    assert WebhookDelivery.objects.count() == 1 and Deployment.objects.count() == 1
    assert AuditEvent.objects.filter(action="deployment.recorded", actor=None).count() == 1
