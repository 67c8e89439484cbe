"""Imports' share of issue 14 item 6: a 400 with a message for a product filter that is not a
number, report downloads named by the portal only, non-ASCII digits in a file, and the
retention of stored files (IMPORT_FILE_RETENTION_DAYS), every deletion audited."""

import csv
import io
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from imports import services
from imports.choices import JobStatus
from imports.models import ImportJob, Order
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, apply_file, committed, make_job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["²", "١٢", "-1", "1e3", "99999999999999999999999"])
def test_a_product_filter_that_is_not_a_number_is_a_400(client_for, value):
    client, _ = client_for("viewer")
    response = client.get(reverse("imports:order_list"), {"product": value})
    assert response.status_code == 400
    assert "product number written in digits 0-9" in response.content.decode()


def test_a_product_filter_still_filters(client_for):
    client, op = client_for("operator")
    apply_file(op, CLEAN / "users.csv")
    apply_file(op, CLEAN / "orders.csv")
    order = Order.objects.select_related("product").first()
    response = client.get(reverse("imports:order_list"), {"product": str(order.product_id)})
    assert response.status_code == 200
    shown = {o.product_id for o in response.context["object_list"]}
    assert shown == {order.product_id}


def test_the_report_url_cannot_choose_the_download_name(client_for):
    client, op = client_for("operator")
    job = make_job(op, CLEAN / "users.csv")
    for fmt in ("html", "exe", 'csv";x=', "csv.html"):
        response = client.get(f"/imports/jobs/{job.pk}/report.{fmt}")
        assert response.status_code == 404, fmt
    response = client.get(reverse("imports:job_report", args=[job.pk, "csv"]))
    assert response["Content-Disposition"] == f'attachment; filename="import-{job.pk}.csv"'


def test_a_non_ascii_digit_in_an_affiliate_column_does_not_stop_the_job(user_factory, tmp_path):
    """ "²".isdigit() is True and int("²") raises: the row must be read, not the job stopped."""
    op = user_factory("operator")
    apply_file(op, CLEAN / "users.csv")
    rows = list(csv.reader(io.StringIO((CLEAN / "orders.csv").read_text())))[:5]
    rows[1][rows[0].index("affiliate")] = "²"
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    job = apply_file(op, path)
    assert job.status == JobStatus.COMPLETED, job.error
    assert AuditEvent.objects.filter(action="import.job.completed", job_id=job.pk).exists()


# --- retention ---------------------------------------------------------------------------------
def _age(job, days: int) -> None:
    ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=days))


def test_files_of_jobs_over_for_longer_than_the_retention_are_deleted(user_factory, settings):
    settings.IMPORT_FILE_RETENTION_DAYS = 30
    op = user_factory("operator")
    old = apply_file(op, CLEAN / "users.csv")  # completed
    recent = apply_file(op, CLEAN / "products.csv")
    ready = make_job(op, CLEAN / "orders.csv")  # not over: kept whatever its age
    _age(old, 31)
    _age(recent, 29)
    ImportJob.objects.filter(pk=ready.pk).update(created_at=timezone.now() - timedelta(days=90))
    stored = old.file.name
    storage = old.file.storage
    assert storage.exists(stored)

    out = StringIO()
    with committed():
        call_command("import_files_purge", stdout=out)
    assert f"deleted the files of 1 job(s) over 30 days: [{old.pk}]" in out.getvalue()
    old.refresh_from_db()
    assert not old.file and not storage.exists(stored)
    assert old.sha256 and old.status == JobStatus.COMPLETED  # the job's record stays
    event = AuditEvent.objects.get(action="import.job.file_purged")
    assert event.job_id == old.pk and event.actor is None
    assert event.changes["file"] == [stored, ""] and event.changes["retention_days"] == 30
    for job in (recent, ready):
        job.refresh_from_db()
        assert job.file and job.file.storage.exists(job.file.name)

    with committed():
        call_command("import_files_purge", stdout=StringIO())  # nothing more to do
    assert AuditEvent.objects.filter(action="import.job.file_purged").count() == 1


def test_failed_and_rolled_back_jobs_lose_their_files_too(user_factory, settings):
    op = user_factory("operator")
    failed = make_job(op, CLEAN / "users.csv")
    ImportJob.objects.filter(pk=failed.pk).update(
        status=JobStatus.FAILED, started_at=timezone.now(), finished_at=None,
        created_at=timezone.now() - timedelta(days=100),
    )  # fmt: skip
    rolled = apply_file(op, CLEAN / "products.csv")
    with committed():
        services.job_rollback(actor=op, job=rolled, reason="test")
    rolled.refresh_from_db()
    assert rolled.status == JobStatus.ROLLED_BACK
    _age(rolled, 100)
    with committed():
        purged = services.job_files_purge(days=90)
    assert sorted(purged) == sorted([failed.pk, rolled.pk])
    assert AuditEvent.objects.filter(action="import.job.file_purged").count() == 2
    failed.refresh_from_db()
    with pytest.raises(ValidationError, match="its file was deleted"):
        services.job_resume(actor=op, job=failed)


def test_retention_zero_keeps_every_file(user_factory, settings):
    settings.IMPORT_FILE_RETENTION_DAYS = 0
    op = user_factory("operator")
    job = apply_file(op, CLEAN / "users.csv")
    _age(job, 3650)
    out = StringIO()
    call_command("import_files_purge", stdout=out)
    assert "retention is off" in out.getvalue()
    job.refresh_from_db()
    assert job.file
    assert not AuditEvent.objects.filter(action="import.job.file_purged").exists()


def test_the_purge_runs_daily_on_django_q2():
    from importlib import import_module

    from django.apps import apps
    from django_q.models import Schedule

    # Transactional tests elsewhere flush every table, migration-made rows included: run the
    # migration's own function again (idempotent) rather than depend on test order.
    import_module("imports.migrations.0006_purge_files_schedule").create(apps, None)
    schedule = Schedule.objects.get(func="imports.tasks.purge_files")
    assert schedule.schedule_type == Schedule.DAILY and schedule.repeats == -1


@pytest.mark.parametrize("newline", ["\r\n", "\r", "\u2028", "\x85"])
def test_a_note_keeps_its_row_in_the_verification_report(user_factory, newline):
    """A textarea sends \\r\\n: a note of two lines (or a forged one) stays one table row."""
    from imports import verification
    from imports.choices import VerificationStatus

    op = user_factory("operator")
    jobs = [apply_file(op, CLEAN / name) for name in ("products.csv", "users.csv", "orders.csv")]
    with committed():
        ver = services.verification_start(actor=op, jobs=jobs[1:], size=2, seed=7)
    ver.refresh_from_db()
    assert ver.status == VerificationStatus.OPEN
    first, second = ver.items.order_by("position")
    services.verification_item_mark(actor=op, item=first, mark="correct")
    note = f"phone differs{newline}| 3 | Forged Member | correct |  | approver | |"
    services.verification_item_mark(actor=op, item=second, mark="wrong", note=note)
    marked = AuditEvent.objects.get(action="import.verification.marked_wrong")
    assert marked.changes["verification"] == ver.pk and marked.changes["position"] == 2
    ver = services.verification_complete(actor=op, verification=ver)
    md = verification.report_markdown(ver)
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 3  # the header and the two members
    assert rows[2].startswith("| 2 |") and "phone differs \\| 3 \\| Forged Member" in rows[2]
