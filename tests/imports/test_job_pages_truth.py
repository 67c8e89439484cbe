"""Import pages tell the truth: after a rollback (status, summary, what is left), rejection
reasons in words with the code kept, and the rejected rows written back exactly as they came."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports import formats, reasons, services
from imports.choices import JobStatus
from imports.models import ImportJob, Member
from imports.services.rollback import rollback_figures, rollback_summary
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, MESSY, MESSY_ORDERS, apply_file, committed

pytestmark = pytest.mark.django_db


def _rolled_back(op, reason="wrong shop"):
    job = apply_file(op, CLEAN / "users.csv")
    edited = Member.objects.order_by("pk").first()
    Member.objects.filter(pk=edited.pk).update(name="Changed By Hand")
    with committed():
        services.job_rollback(actor=op, job=job, reason=reason)
    job.refresh_from_db()
    assert job.status == JobStatus.ROLLED_BACK
    return job


def test_rollback_summary_names_who_why_and_what_is_left(client_for):
    client, op = client_for("operator")
    job = _rolled_back(op)
    figures = rollback_figures(job)
    created = job.changes.filter(op="created").count()
    assert figures["changes"] == created + job.changes.filter(op="updated").count()
    assert figures["conflicts"] == len(job.rollback_conflicts) > 0
    assert figures["deleted"] == created - figures["created_kept"]
    assert figures["created_kept"] >= 1  # the member edited by hand, and what points at it
    summary = rollback_summary(job)
    assert summary["by"] == op and summary["reason"] == "wrong shop" and summary["done"]
    # the figures are in the audit trail too
    event = AuditEvent.objects.get(action="import.job.rolled_back", job_id=job.pk)
    assert event.changes["deleted"] == figures["deleted"]
    assert event.changes["restored"] == figures["restored"]
    assert event.changes["created_kept"] == figures["created_kept"]
    started = AuditEvent.objects.get(action="import.job.rollback_started", job_id=job.pk)
    assert started.actor == op and started.message == "wrong shop"

    page = client.get(job.get_absolute_url()).content.decode()
    assert 'data-testid="rollback-summary"' in page
    assert f'data-figure="rollback-deleted">{figures["deleted"]}<' in page
    assert f'data-figure="rollback-conflicts">{figures["conflicts"]}<' in page
    assert "wrong shop" in page and op.username in page
    assert f"{figures['created_kept']} created row" in page
    # the bar tells the rollback, not a full import
    assert "rolled back" in page and "100 %" not in page
    assert f"{figures['reverted_so_far']} / {figures['changes']} changes reverted" in page
    # the list strikes the figures the rollback undid
    listing = client.get(reverse("imports:job_list")).content.decode()
    assert f'<s title="Rolled back: deleted again">{job.created_count}</s>' in listing


def test_a_clean_rollback_says_nothing_is_left(client_for):
    client, op = client_for("operator")
    job = apply_file(op, CLEAN / "users.csv")
    with committed():
        services.job_rollback(actor=op, job=job, reason="test run")
    job.refresh_from_db()
    assert (
        AuditEvent.objects.get(action="import.job.rolled_back", job_id=job.pk).changes["deleted"]
        == job.changes.count()
    )
    assert not Member.objects.exists()
    page = client.get(job.get_absolute_url()).content.decode()
    assert "Nothing of this import is left in the tables." in page


def test_progress_poll_during_a_rollback_shows_its_progress(client_for):
    client, op = client_for("operator")
    job = apply_file(op, CLEAN / "users.csv")
    services.job_rollback(actor=op, job=job, reason="later", enqueue=False)
    assert AuditEvent.objects.filter(action="import.job.rollback_started", job_id=job.pk).exists()
    r = client.get(job.get_absolute_url() + "?part=progress", HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert 'data-testid="rollback-progress"' in body
    assert f"0 / {job.changes.count()} changes reverted" in body


@pytest.mark.parametrize(
    "code, words",
    [
        ("no_contact", "neither an e-mail address nor a phone number"),
        ("deleted user: phone_shared_by_members", "account was deleted"),
        ("deleted user: unknown_phone", "No member has this phone number".lower()),
        ("bad_date", "not a real date"),
        ("expected 12 columns, found 11", "wrong number of cells"),
        ("something new", "Something new"),
    ],
)
def test_reasons_in_words(code, words):
    assert words in reasons.describe(code)


def test_every_code_the_layouts_raise_has_words():
    import pathlib
    import re

    root = pathlib.Path(reasons.__file__).parent
    raised = set()
    for path in root.rglob("*.py"):
        text = path.read_text()
        raised |= set(re.findall(r'Invalid\("([a-z_]+)"\)', text))
        raised |= set(re.findall(r'reject\([^)]*"([a-z_]+)"\)', text))
        raised |= set(re.findall(r'missing_key = "([a-z_]+)"', text))
        raised |= set(re.findall(r'DecimalWidget\("([a-z_]+)"\)', text))
    assert raised and raised <= set(reasons.REASONS), raised - set(reasons.REASONS)


def test_job_page_shows_reasons_in_words_and_filters_by_code(client_for):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    job = apply_file(op, MESSY / "orders.csv")
    codes = set(job.row_errors.values_list("reason", flat=True))
    assert codes
    page = client.get(job.get_absolute_url()).content.decode()
    for code in codes:
        assert reasons.describe(code) in page.replace("&#x27;", "'")
        assert f'data-reason="{code}"' in page
    code = sorted(codes)[0]
    filtered = client.get(job.get_absolute_url(), {"reason": code}).content.decode()
    shown = filtered.count("data-reason=")
    assert shown == job.row_errors.filter(reason=code).count()
    # the errors CSV keeps the code and adds the words
    response = client.get(reverse("imports:job_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["row", "key", "reason", "explanation"]
    assert all(r[3] == reasons.describe(r[2]) for r in rows[1:])


def _download(client, job) -> bytes:
    response = client.get(reverse("imports:job_rejected_rows", args=[job.pk]))
    return b"".join(response.streaming_content)


def test_rejected_rows_come_back_exactly_and_reimport_as_they_were(client_for):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    original = (MESSY / "orders.csv").read_bytes()
    job = apply_file(op, MESSY / "orders.csv")
    body = _download(client, job)
    text = body.decode()
    assert "'-" not in text and ",-," in text  # Sejoli's "-" written as it came
    # read back through the importer, each row is the original file's row, cell for cell
    by_number = dict(formats.parse_bytes(original, kind="orders").rows())
    wanted = [by_number[e.row] for e in job.row_errors.order_by("row")]
    again = [row for _, row in formats.parse_bytes(body, kind="orders").rows()]
    assert again == wanted
    assert [r["INV"] for r in again] == MESSY_ORDERS["rejected_inv"]


def test_formula_looking_cells_are_written_exactly(client_for):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    job = apply_file(op, MESSY / "orders.csv")
    header = job.preview["columns"]
    raw = dict.fromkeys(header, "-")
    raw.update({header[0]: "9999", header[1]: "=1+1", header[3]: "'-", header[5]: "+62812"})
    job.row_errors.create(row=900, key="9999", reason="no_contact", raw=raw)
    rows = list(csv.reader(io.StringIO(_download(client, job).decode())))
    assert rows[-1] == [raw[c] for c in header]
    # and uploaded again (as a follow-up) the importer reads those same values
    with committed():
        client.post(
            reverse("imports:job_upload"),
            {"file": SimpleUploadedFile("fixed.csv", _download(client, job)), "kind": "auto",
             "batch_size": 100, "parent": job.pk},
        )  # fmt: skip
    followup = ImportJob.objects.get(original_name="fixed.csv")
    assert AuditEvent.objects.filter(action="import.job.uploaded", job_id=followup.pk).exists()
    with followup.file.open("rb") as fh:
        last = list(formats.parse_bytes(fh.read(), kind="orders").rows())[-1][1]
    assert (last["INV"], last["product"], last["phone"]) == ("9999", "=1+1", "+62812")
