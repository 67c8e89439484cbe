"""Job flow: preview, confirm, checkpoints and resume, cancel, rollback, audit."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from imports import checks, engine, services
from imports.choices import JobStatus
from imports.models import ImportJob, ImportRowChange, Member, Order
from opsportal.audit.models import AuditEvent

from .conftest import table_state
from .factories import CLEAN, MESSY, MESSY_ORDERS, apply_file, committed, make_job

pytestmark = pytest.mark.django_db


def actions(job) -> list[str]:
    return list(
        AuditEvent.objects.filter(job_id=job.pk).order_by("seq").values_list("action", flat=True)
    )


def test_preview_counts_whole_file_and_writes_nothing(user_factory):
    op = user_factory("operator")
    job = make_job(op, CLEAN / "users.csv")
    assert job.status == JobStatus.READY
    assert job.preview["created"] == 60 and job.preview["rejected"] == 0
    assert len(job.preview["samples"]) == 20
    assert not Member.objects.exists()
    assert not ImportRowChange.objects.exists()
    assert actions(job) == ["import.job.uploaded", "import.job.validated"]
    assert AuditEvent.objects.get(action="import.job.uploaded").actor == op


def test_preview_lists_every_rejected_row_with_reason(user_factory):
    op = user_factory("operator")
    apply_file(op, MESSY / "users.csv")
    job = make_job(op, MESSY / "orders.csv")
    errors = list(job.row_errors.values_list("key", "reason"))
    assert [key for key, _ in errors] == MESSY_ORDERS["rejected_inv"]
    assert {reason for _, reason in errors} == {"no_contact"}  # neither email nor phone
    assert job.preview["created"] == MESSY_ORDERS["importable"]
    assert not Order.objects.exists()


def test_confirm_applies_in_batches_with_checkpoint_and_audit(user_factory):
    op = user_factory("operator")
    job = apply_file(op, CLEAN / "users.csv", batch_size=25)
    assert job.status == JobStatus.COMPLETED
    assert job.checkpoint == 3 and job.processed_rows == 60
    assert job.created_count == 60
    assert Member.objects.filter(job=job).count() == 60
    assert actions(job) == [
        "import.job.uploaded", "import.job.validated", "import.job.confirmed",
        "import.job.started", "import.job.completed",
    ]  # fmt: skip
    confirmed = AuditEvent.objects.get(job_id=job.pk, action="import.job.confirmed")
    assert confirmed.actor == op
    # per-row changes are linked to the job, not audited one by one
    assert ImportRowChange.objects.filter(job=job, model="imports.member").count() == 60
    assert AuditEvent.objects.filter(job_id=job.pk).count() == 5


def test_crash_between_batches_resumes_without_loss_or_doubles(user_factory, monkeypatch):
    op = user_factory("operator")
    apply_file(op, CLEAN / "users.csv")
    job = make_job(op, CLEAN / "orders.csv", batch_size=40)
    real = engine.apply_batch
    calls = {"n": 0}

    def dying(job, rows, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("worker killed")
        return real(job, rows, **kw)

    monkeypatch.setattr(engine, "apply_batch", dying)
    with pytest.raises(RuntimeError), committed():
        services.job_confirm(actor=op, job=job)
    job.refresh_from_db()
    # the error stops the job as failed, audited, at the last committed batch
    assert job.status == JobStatus.FAILED and job.checkpoint == 3
    assert job.error == (
        "Stopped at batch 4: RuntimeError: worker killed. Resume to continue from there."
    )
    failed = AuditEvent.objects.get(job_id=job.pk, action="import.job.failed")
    assert failed.message == job.error and failed.changes["checkpoint"] == 3
    assert Order.objects.count() == 120
    monkeypatch.setattr(engine, "apply_batch", real)
    with committed():
        services.job_resume(actor=op, job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.error == ""
    assert Order.objects.count() == 300 and job.created_count == 300
    assert actions(job)[-3:] == [
        "import.job.failed", "import.job.resumed", "import.job.completed"
    ]  # fmt: skip
    # a redelivered duplicate task does nothing
    services.job_apply(job_id=job.pk)
    assert Order.objects.count() == 300


def test_duplicate_delivery_skips_committed_batches(user_factory):
    op = user_factory("operator")
    job = make_job(op, CLEAN / "users.csv", batch_size=20)
    services.job_confirm(actor=op, job=job, enqueue=False)
    services.job_apply(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)
    services.job_apply(job_id=job.pk)  # a second delivery after everything committed
    assert Member.objects.count() == 60
    assert ImportRowChange.objects.filter(job=job).count() == 120  # members + accounts, once


def test_same_file_cannot_be_applied_twice_at_once(user_factory):
    op = user_factory("operator")
    first = make_job(op, CLEAN / "users.csv")
    second = make_job(op, CLEAN / "users.csv")
    services.job_confirm(actor=op, job=first, enqueue=False)
    with pytest.raises(ValidationError, match=f"already being applied by job #{first.pk}"):
        services.job_confirm(actor=op, job=second, enqueue=False)
    second.refresh_from_db()
    assert second.status == JobStatus.READY


def test_cancel_stops_a_queued_job(user_factory):
    op = user_factory("operator")
    job = make_job(op, CLEAN / "users.csv")
    services.job_confirm(actor=op, job=job, enqueue=False)
    services.job_cancel(actor=op, job=job, reason="wrong file")
    services.job_apply(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not Member.objects.exists()
    event = AuditEvent.objects.get(job_id=job.pk, action="import.job.cancelled")
    assert event.actor == op and event.message == "wrong file"


def test_rollback_restores_tables_exactly(user_factory):
    op = user_factory("operator")
    for name in ("users.csv", "orders.csv"):
        apply_file(op, MESSY / name)
    before = table_state()
    # a second users file updates members (phones and names changed) and adds accounts
    changed = (MESSY / "users.csv").read_text().replace("Member Premium", "Gold")
    path = CLEAN.parent / "_changed_users.csv"
    try:
        path.write_text(changed)
        job = apply_file(op, path)
    finally:
        path.unlink()
    assert job.updated_count > 0
    assert table_state() != before
    with committed():
        services.job_rollback(actor=op, job=job, reason="bad group names")
    job.refresh_from_db()
    assert job.status == JobStatus.ROLLED_BACK
    assert job.rollback_conflicts == []
    assert table_state() == before
    assert actions(job)[-2:] == ["import.job.rollback_started", "import.job.rolled_back"]
    assert AuditEvent.objects.get(job_id=job.pk, action="import.job.rollback_started").actor == op


def test_rollback_of_everything_empties_the_tables(user_factory):
    op = user_factory("operator")
    empty = table_state()
    jobs = [apply_file(op, CLEAN / n) for n in ("users.csv", "orders.csv", "commissions.csv")]
    for job in reversed(jobs):
        with committed():
            services.job_rollback(actor=op, job=job, reason="test")
    assert table_state() == empty


def test_rollback_reports_rows_changed_since_as_conflicts(user_factory):
    op = user_factory("operator")
    job = apply_file(op, CLEAN / "users.csv")
    edited = Member.objects.order_by("pk").first()
    Member.objects.filter(pk=edited.pk).update(name="Changed By Hand")
    with committed():
        services.job_rollback(actor=op, job=job, reason="test")
    job.refresh_from_db()
    assert job.status == JobStatus.ROLLED_BACK
    assert job.rollback_conflicts and job.rollback_conflicts[0]["pk"] == edited.pk
    assert {c["reason"] for c in job.rollback_conflicts} >= {"changed since the import"}
    edited.refresh_from_db()
    assert edited.name == "Changed By Hand"  # not overwritten
    # its account could not go either: the member it points at stays
    assert Member.objects.count() == 1


def test_rollback_of_users_referenced_by_later_orders_is_a_conflict(user_factory):
    op = user_factory("operator")
    users = apply_file(op, CLEAN / "users.csv")
    apply_file(op, CLEAN / "orders.csv")
    with committed():
        services.job_rollback(actor=op, job=users, reason="test")
    users.refresh_from_db()
    assert any(c["reason"] == "still referenced by other rows" for c in users.rollback_conflicts)
    assert Order.objects.count() == 300


def test_viewer_cannot_start_confirm_or_roll_back(user_factory):
    op, viewer = user_factory("operator"), user_factory("viewer")
    with pytest.raises(PermissionDenied):
        make_job(viewer, CLEAN / "users.csv")
    job = make_job(op, CLEAN / "users.csv")
    with pytest.raises(PermissionDenied):
        services.job_confirm(actor=viewer, job=job)
    services.job_confirm(actor=op, job=job)
    job.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.job_rollback(actor=viewer, job=job, reason="x")
    with pytest.raises(PermissionDenied):
        services.job_cancel(actor=viewer, job=job)
    assert not AuditEvent.objects.filter(actor=viewer, action__startswith="import.").exists()


def test_job_status_check_for_runbooks(user_factory):
    op = user_factory("operator")
    clean = apply_file(op, CLEAN / "users.csv")
    status = checks.job_status(clean.pk)
    assert status["ok"] is True
    assert status["figures"]["created"] == 60 and status["figures"]["rejected"] == 0
    assert "completed" in status["summary"]

    apply_file(op, MESSY / "users.csv")
    messy = apply_file(op, MESSY / "orders.csv")
    status = checks.job_status(messy.pk)
    assert status["ok"] is False
    rejected = len(MESSY_ORDERS["rejected_inv"])
    assert status["figures"]["rejected"] == rejected
    assert f"{rejected} rejected rows" in status["summary"]
    assert checks.job_status(999999)["ok"] is False
    pending = make_job(op, CLEAN / "orders.csv")
    assert checks.job_status(pending.pk)["ok"] is False


def test_rollback_is_resumable_after_a_crash(user_factory, monkeypatch):
    op = user_factory("operator")
    before = table_state()
    job = apply_file(op, CLEAN / "users.csv")
    services.job_rollback(actor=op, job=job, reason="wrong shop", enqueue=False)
    calls = {"n": 0}
    from imports.services import rollback as svc

    real_lock = svc._lock

    def dying_lock(job_id):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real_lock(job_id)

    monkeypatch.setattr(svc, "_lock", dying_lock)
    with pytest.raises(RuntimeError):
        svc.job_rollback_run(job_id=job.pk, batch_size=50)
    monkeypatch.setattr(svc, "_lock", real_lock)
    job.refresh_from_db()
    assert job.status == JobStatus.ROLLING_BACK
    assert job.rollback_checkpoint == 100  # two batches of 50 committed
    with committed():
        services.job_resume(actor=op, job=job)
    job.refresh_from_db()
    assert job.status == JobStatus.ROLLED_BACK
    assert table_state() == before
    assert actions(job)[-2:] == ["import.job.resumed", "import.job.rolled_back"]


def test_job_page_query_count(client_for, django_assert_max_num_queries):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    job = apply_file(op, MESSY / "orders.csv")
    with django_assert_max_num_queries(15):
        response = client.get(job.get_absolute_url())
    assert response.status_code == 200
    assert MESSY_ORDERS["rejected_inv"][0] in response.content.decode()
