"""The command line: import_sejoli (dry run, background, --as), import_resume, import_rollback."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from imports import engine
from imports.choices import JobStatus
from imports.models import ImportJob, Member, Order
from opsportal.audit.models import AuditEvent

from .conftest import run_cli
from .factories import CLEAN

pytestmark = pytest.mark.django_db


def test_dry_run_reports_and_writes_nothing():
    result = run_cli(CLEAN / "users.csv", CLEAN / "orders.csv", "--dry-run")
    assert [r["kind"] for r in result[:-1]] == ["users", "orders"]
    assert result[0]["created"] == 60 and result[0]["dry_run"] is True
    assert result[-1]["totals"]["members"] == 0
    assert not Member.objects.exists()
    assert set(ImportJob.objects.values_list("status", flat=True)) == {JobStatus.READY}


def test_as_user_and_background(user_factory):
    op = user_factory("operator")
    result = run_cli(CLEAN / "users.csv", "--background", "--as", op.username)
    job = ImportJob.objects.get(pk=result[0]["job"])
    assert job.status == JobStatus.QUEUED and job.created_by == op
    assert AuditEvent.objects.get(action="import.job.confirmed", job_id=job.pk).actor == op


def test_viewer_cannot_import_from_the_cli(user_factory):
    viewer = user_factory("viewer")
    with pytest.raises(Exception, match="not allowed to start imports"):
        run_cli(CLEAN / "users.csv", "--as", viewer.username)
    assert not ImportJob.objects.exists()


def test_unknown_file_is_a_command_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"a,b\n1,2\n")
    with pytest.raises(CommandError, match="matches no known layout"):
        run_cli(path)
    with pytest.raises(CommandError, match="no such file"):
        run_cli(tmp_path / "missing.csv")


def test_progress_bar_and_summary_without_json(capsys):
    out, err = StringIO(), StringIO()
    call_command("import_sejoli", str(CLEAN / "users.csv"), "--batch-size", "20", stdout=out,
                 stderr=err)  # fmt: skip
    assert "created=60" in out.getvalue()
    assert "100%" in err.getvalue() and "60/60 rows" in err.getvalue()


def test_import_resume_and_rollback_commands(monkeypatch):
    run_cli(CLEAN / "users.csv")
    real, calls = engine.apply_batch, {"n": 0}

    def dying(job, rows, **kw):
        if not kw.get("dry_run"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("worker killed")
        return real(job, rows, **kw)

    monkeypatch.setattr(engine, "apply_batch", dying)
    with pytest.raises(RuntimeError):
        run_cli(CLEAN / "orders.csv", "--batch-size", "50")
    monkeypatch.setattr(engine, "apply_batch", real)
    job = ImportJob.objects.get(kind="orders")
    # the error stops the job as failed (audited), resumable from its checkpoint
    assert job.status == JobStatus.FAILED and job.checkpoint == 2
    assert "worker killed" in job.error
    assert AuditEvent.objects.filter(job_id=job.pk, action="import.job.failed").exists()
    out = StringIO()
    call_command("import_resume", str(job.pk), stdout=out)
    assert "completed" in out.getvalue()
    assert Order.objects.count() == 300
    out = StringIO()
    call_command("import_rollback", str(job.pk), "--reason", "drill", stdout=out)
    assert "rolled_back" in out.getvalue() and "0 conflicts" in out.getvalue()
    assert Order.objects.count() == 0
    assert (
        AuditEvent.objects.filter(job_id=job.pk, action="import.job.rollback_started").get().message
        == "drill"
    )
    with pytest.raises(CommandError, match="nothing to resume"):
        call_command("import_resume", str(job.pk))
