"""Pages: upload, preview, confirm, job page, errors CSV, reports, review queues, authorization."""

import csv
import io
import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from imports.choices import JobStatus, ReviewStatus
from imports.models import ImportJob, Member, ReviewItem
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, MESSY, MESSY_ORDERS, apply_file, committed, make_job

pytestmark = pytest.mark.django_db


def post_file(client, path, **extra):
    upload = SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")
    return client.post(
        reverse("imports:job_upload"), {"file": upload, "kind": "auto", "batch_size": 100, **extra}
    )


def test_upload_preview_confirm_flow(client_for):
    client, op = client_for("operator")
    with committed():
        response = post_file(client, CLEAN / "users.csv")
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == JobStatus.READY
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'id="preview-created">60<' in page
    assert "Confirm and apply" in page
    with committed():
        client.post(reverse("imports:job_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert Member.objects.count() == 60
    assert AuditEvent.objects.get(action="import.job.confirmed", job_id=job.pk).actor == op
    page = client.get(job.get_absolute_url()).content.decode()
    assert 'aria-valuenow="100"' in page


def test_progress_partial_for_htmx_polling(client_for):
    client, op = client_for("operator")
    job = make_job(op, CLEAN / "users.csv")
    job.status, job.processed_rows = JobStatus.RUNNING, 30
    job.save(update_fields=["status", "processed_rows"])
    response = client.get(job.get_absolute_url() + "?part=progress", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="job-progress"')
    assert 'aria-valuenow="50"' in body and 'hx-trigger="every 1s"' in body


def test_upload_errors_show_next_to_the_field(client_for):
    client, _ = client_for("operator")
    upload = SimpleUploadedFile("x.csv", b"", content_type="text/csv")
    response = client.post(reverse("imports:job_upload"), {"file": upload, "kind": "auto",
                                                           "batch_size": 1000})  # fmt: skip
    assert response.status_code == 400
    assert "empty" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_bad_file_fails_in_the_worker_with_its_reason(client_for):
    """The request stores the file; reading it (here: NUL bytes) is the worker's, which fails
    the job with the reason shown on its page."""
    client, op = client_for("operator")
    upload = SimpleUploadedFile("x.csv", b"\x00\x01binary", content_type="text/csv")
    with committed():
        response = client.post(reverse("imports:job_upload"), {"file": upload, "kind": "auto",
                                                               "batch_size": 1000})  # fmt: skip
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "NUL bytes" in job.error
    assert AuditEvent.objects.get(action="import.job.uploaded", job_id=job.pk).actor == op
    assert "NUL bytes" in AuditEvent.objects.get(action="import.job.failed", job_id=job.pk).message
    assert "NUL bytes" in client.get(job.get_absolute_url()).content.decode()


def test_errors_download_as_escaped_csv(client_for):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    job = make_job(op, MESSY / "orders.csv")
    ImportJob.objects.filter(pk=job.pk)  # errors were stored at validation
    job.row_errors.create(row=999, key="=cmd|' /C calc'!A0", reason="bad")
    response = client.get(reverse("imports:job_errors", args=[job.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["row", "key", "reason", "explanation"]
    first = MESSY_ORDERS["rejected_inv"][0]
    assert ["1", first, "no_contact"] not in rows  # row numbers are data rows
    assert [r[1] for r in rows[1:-1]] == MESSY_ORDERS["rejected_inv"]
    assert rows[-1][1] == "'=cmd|' /C calc'!A0"


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_job_report_exports(client_for, fmt):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    job = apply_file(op, MESSY / "orders.csv")
    response = client.get(reverse("imports:job_report", args=[job.pk, fmt]))
    assert response.status_code == 200
    if fmt == "json":
        body = json.loads(response.content)
        assert body["created"] == MESSY_ORDERS["importable"]
        assert len(body["rejected"]) == len(MESSY_ORDERS["rejected_inv"])
    elif fmt == "csv":
        assert "rows_per_second" in response.content.decode()
    else:
        assert response.content[:2] == b"PK"


def test_viewer_cannot_upload_confirm_or_roll_back(client_for, user_factory):
    client, viewer = client_for("viewer")
    op = user_factory("operator")
    job = make_job(op, CLEAN / "users.csv")
    assert client.get(reverse("imports:job_list")).status_code == 200
    assert "Upload a file" not in client.get(reverse("imports:job_list")).content.decode()
    assert post_file(client, CLEAN / "users.csv").status_code == 403
    assert client.post(reverse("imports:job_confirm", args=[job.pk])).status_code == 403
    assert client.post(reverse("imports:job_cancel", args=[job.pk])).status_code == 403
    job = apply_file(op, CLEAN / "commissions.csv")
    response = client.post(reverse("imports:job_rollback", args=[job.pk]),
                           {"confirm": job.pk, "reason": "x"})  # fmt: skip
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert not AuditEvent.objects.filter(actor=viewer, action__startswith="import.").exists()


def test_rollback_needs_typed_confirmation(client_for):
    client, op = client_for("operator")
    job = apply_file(op, CLEAN / "users.csv")
    response = client.post(reverse("imports:job_rollback", args=[job.pk]),
                           {"confirm": "yes", "reason": "wrong file"})  # fmt: skip
    assert response.status_code == 400
    assert "Type the job number exactly" in response.content.decode()
    with committed():
        client.post(reverse("imports:job_rollback", args=[job.pk]),
                    {"confirm": str(job.pk), "reason": "wrong file"})  # fmt: skip
    job.refresh_from_db()
    assert job.status == JobStatus.ROLLED_BACK
    assert not Member.objects.exists()
    event = AuditEvent.objects.get(action="import.job.rollback_started", job_id=job.pk)
    assert event.actor == op and event.message == "wrong file"


def test_job_list_query_count(client_for, django_assert_max_num_queries):
    client, op = client_for("operator")
    for _ in range(5):
        make_job(op, CLEAN / "commissions.csv")
    with django_assert_max_num_queries(12):
        response = client.get(reverse("imports:job_list"))
    assert response.content.decode().count("commissions.csv") == 5


def test_review_queue_decisions(client_for):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    item = ReviewItem.objects.get(kind="duplicate_member")
    approver_client, approver = client_for("approver")
    page = approver_client.get(reverse("imports:review_list")).content.decode()
    assert item.summary in page and "Verify" in page
    # operators see the queue but cannot decide
    assert "Verify</button>" not in client.get(reverse("imports:review_list")).content.decode()
    url = reverse("imports:review_decide", args=[item.pk])
    assert client.post(url, {"decision": "verified"}).status_code == 403
    approver_client.post(url, {"decision": "rejected", "note": ""})
    item.refresh_from_db()
    assert item.status == ReviewStatus.OPEN  # rejecting needs a note
    approver_client.post(url, {"decision": "verified", "note": "two siblings, one phone"})
    item.refresh_from_db()
    assert item.status == ReviewStatus.VERIFIED and item.decided_by == approver
    event = AuditEvent.objects.get(action="import.review.verified")
    assert event.actor == approver and event.message == "two siblings, one phone"


def test_review_list_query_count(client_for, django_assert_max_num_queries):
    client, op = client_for("approver")
    apply_file(op, MESSY / "users.csv")
    apply_file(op, CLEAN / "users.csv")
    with django_assert_max_num_queries(12):
        assert client.get(reverse("imports:review_list")).status_code == 200


def test_member_and_order_lists(client_for, user_factory, django_assert_max_num_queries):
    client, _ = client_for("viewer")
    op = user_factory("operator")
    apply_file(op, CLEAN / "users.csv")
    apply_file(op, CLEAN / "orders.csv")
    with django_assert_max_num_queries(10):
        page = client.get(reverse("imports:order_list")).content.decode()
    # totals in Rupiah with the thousands dot, never the raw decimal
    assert "Rp 1.500.000" in page and "1500000.00" not in page
    with django_assert_max_num_queries(10):
        page = client.get(reverse("imports:member_list") + "?q=gmail").content.decode()
    assert "gmail.com" in page


def test_member_list_pages_by_seeking_and_keeps_the_search(client_for):
    import re

    client, _ = client_for("viewer")
    Member.objects.bulk_create(
        [Member(email=f"m{i:03d}@{'gmail.com' if i % 2 else 'mail.id'}") for i in range(120)]
    )
    seen, url, pages = [], reverse("imports:member_list") + "?q=gmail", 0
    while url:
        page = client.get(url).content.decode()
        pages += 1
        seen += re.findall(r"m\d{3}@gmail\.com", page)
        older = re.search(r'rel="next" href="(\?[^"#]+)"', page)
        url = reverse("imports:member_list") + older.group(1).replace("&amp;", "&") if older else ""
        assert "q=gmail" in (older.group(1) if older else "q=gmail")
        assert pages < 5
    assert pages == 2
    assert len(seen) == len(set(seen)) == 60  # every match once, newest first
    assert seen[0] == "m119@gmail.com" and seen[-1] == "m001@gmail.com"
    assert (
        "60 matching members"
        in client.get(reverse("imports:member_list") + "?q=gmail").content.decode()
    )


def test_dashboard_panel_lists_jobs_needing_attention(client_for):
    client, op = client_for("operator")
    make_job(op, CLEAN / "users.csv")
    page = client.get("/").content.decode()
    assert "users.csv" in page and "Ready to apply" in page


def test_admin_export_escapes_formulae(client_for):
    _, admin = client_for("admin")
    Member.objects.create(email="x@example.com", name="=HYPERLINK(1)")
    Member.objects.create(email="y@example.com", name="+Budi")
    from django.contrib import admin as django_admin
    from django.test import RequestFactory

    from imports.admin import MemberAdmin

    request = RequestFactory().get("/")
    request.user = admin
    model_admin = MemberAdmin(Member, django_admin.site)
    data = model_admin.get_data_for_export(request, Member.objects.all())
    names = [row[data.headers.index("name")] for row in data]
    assert names == ["'=HYPERLINK(1)", "'+Budi"]


def test_review_redirect_stays_on_site(client_for, user_factory):
    op = user_factory("operator")
    apply_file(op, MESSY / "users.csv")
    item = ReviewItem.objects.get(kind="duplicate_member")
    client, _ = client_for("approver")
    response = client.post(
        reverse("imports:review_decide", args=[item.pk]),
        {"decision": "verified", "note": "ok", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("imports:review_list")


def test_demo_load_is_idempotent_and_audited(user_factory):
    from imports import demo
    from imports.models import Order

    users = {"operator": user_factory("operator")}
    out = io.StringIO()
    demo.load(users=users, stdout=out)
    orders = Order.objects.count()
    assert orders > 100
    assert "completed" in out.getvalue()
    demo.load(users=users, stdout=out)
    assert Order.objects.count() == orders
    assert ImportJob.objects.filter(status=JobStatus.COMPLETED).count() == 5
    assert (
        AuditEvent.objects.filter(action="import.job.confirmed", actor=users["operator"]).count()
        == 5
    )


def test_rejected_rows_download_in_the_files_layout_for_a_followup(client_for):
    client, op = client_for("operator")
    apply_file(op, MESSY / "users.csv")
    job = apply_file(op, MESSY / "orders.csv")
    response = client.get(reverse("imports:job_rejected_rows", args=[job.pk]))
    body = b"".join(response.streaming_content)
    rows = list(csv.reader(io.StringIO(body.decode())))
    assert rows[0][:3] == ["INV", "product", "created_at"]
    assert [r[0] for r in rows[1:]] == MESSY_ORDERS["rejected_inv"]
    # fixed (a phone added to the first) and uploaded again as a follow-up job
    fixed = re.sub(r",,,(\d+),", r",,081299990001,\1,", body.decode(), count=1)
    assert fixed != body.decode()
    with committed():
        response = client.post(
            reverse("imports:job_upload"),
            {"file": SimpleUploadedFile("fixed.csv", fixed.encode()), "kind": "auto",
             "batch_size": 100, "parent": job.pk},
        )  # fmt: skip
    followup = ImportJob.objects.get(original_name="fixed.csv")
    assert followup.parent == job and followup.kind == "orders"
    assert followup.total_rows == len(MESSY_ORDERS["rejected_inv"])


def test_column_mapping_preset_page_then_upload_with_it(client_for):
    client, op = client_for("operator")
    url = reverse("imports:preset_create")
    assert "Column for “User ID”" in client.get(url + "?kind=users").content.decode()
    columns = {"col_User ID": "Kode", "col_name": "Nama", "col_email": "Surel", "col_phone": "HP"}
    response = client.post(url, {"kind": "users", "name": "CRM export", **columns})
    assert response.status_code == 302
    from imports.models import ColumnPreset

    preset = ColumnPreset.objects.get(name="CRM export")
    assert preset.mapping["email"] == "Surel" and preset.mapping["group"] == ""
    assert AuditEvent.objects.get(action="import.preset.saved").actor == op
    data = b"Kode;Nama;Surel;HP\n7;Budi;BUDI@example.com;0812345678\n"
    with committed():
        client.post(reverse("imports:job_upload"), {
            "file": SimpleUploadedFile("crm.csv", data), "kind": "auto", "batch_size": 100,
            "preset": preset.pk,
        })  # fmt: skip
    job = ImportJob.objects.get(original_name="crm.csv")
    assert job.kind == "users" and job.preview["created"] == 1


def test_viewer_cannot_save_presets(client_for):
    client, _ = client_for("viewer")
    response = client.post(reverse("imports:preset_create"), {"kind": "users", "name": "x"})
    assert response.status_code == 403


def test_dashboard_panel_names_open_review_kinds(client_for):
    client, _ = client_for("approver")
    ReviewItem.objects.create(kind="duplicate_member", key="+6281200000001", summary="shared phone")
    ReviewItem.objects.create(kind="commission_mismatch", key="INV1", summary="differs")
    page = client.get("/").content.decode()
    assert "Possible duplicate members: 1" in page
    assert "Commission mismatch: 1" in page


def test_reloading_an_action_url_goes_back_instead_of_a_blank_405(client_for):
    client, op = client_for("operator")
    job = make_job(op, CLEAN / "users.csv")
    response = client.get(reverse("imports:job_upload"))
    assert response.status_code == 302 and response["Location"] == reverse("imports:job_list")
    response = client.get(f"/imports/jobs/{job.pk}/rollback/")
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    job.refresh_from_db()
    assert job.status == JobStatus.READY
    assert not AuditEvent.objects.filter(action__startswith="import.job.rolled", job_id=job.pk)
