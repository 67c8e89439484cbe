"""The admin's Import (django-import-export's upload -> preview -> confirm) of Sejoli files goes
through import jobs: previews are validated jobs, confirms apply them, every step audited."""

import re

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from imports.choices import JobKind, JobStatus
from imports.layouts import REGISTRY
from imports.layouts.admin_import import ADMIN_RESOURCES, MAX_BYTES, MAX_ROWS
from imports.models import ImportJob, Member, Order, SejoliAccount
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

IMPORT_URL = "admin:imports_importjob_import"
CONFIRM_URL = "admin:imports_importjob_process_import"
CHANGELIST_URL = "admin:imports_importjob_changelist"
CSV_FORMAT = "0"  # the admin offers CSV, then XLSX

USERS_HEADER = "User ID,name,email,phone,address,affiliate,group\n"
USERS_CSV = (
    USERS_HEADER
    + "2,Putri Hidayat,putri.hidayat@example.com,081210000000,Jl. Melati 1,-,Member Premium\n"
    + "3,Rina Wijaya,rina.wijaya@example.com,081210007919,-,-,Member Premium\n"
    + "4,Tanpa Email,,081210001111,-,-,Member\n"
    + "5,Budi Santoso,budi.santoso@example.com,081310002222,-,-,Member\n"
).encode()

ORDERS_CSV = (
    b"INV,product,created_at,name,email,phone,quantity,price,status,affiliate,affiliate_id,"
    b"address,payment,courier,variant,notes\n"
    b"9001,Kelas Copywriting,2025-01-02 10:00:00,Putri Hidayat,putri.hidayat@example.com,"
    b"081210000000,1,150000.00,Selesai,0,,-,Manual,-,-,\n"
    b"9002,Kelas Copywriting,2025-01-03 11:00:00,Budi Santoso,budi.santoso@example.com,"
    b"081310002222,1,150000.00,Selesai,0,,-,Manual,-,-,\n"
    b"9003,Kelas Copywriting,2025-01-04 12:00:00,Nobody,,,1,150000.00,Selesai,0,,-,Manual,-,-,\n"
)


def resource_index(kind: str) -> str:
    return str(next(i for i, r in enumerate(ADMIN_RESOURCES) if r.kind == kind))


@pytest.fixture
def staff_client(user_factory):
    def make(role: str):
        user = user_factory(role, is_staff=True)
        client = Client()
        client.force_login(user)
        return client, user

    return make


def upload(client, kind: str, data: bytes, name: str = "export.csv"):
    return client.post(
        reverse(IMPORT_URL),
        {
            "resource": resource_index(kind),
            "format": CSV_FORMAT,
            "import_file": SimpleUploadedFile(name, data, content_type="text/csv"),
        },
    )


def confirm(client, preview_response):
    form = preview_response.context["confirm_form"]
    fields = {name: form.initial.get(name, "") for name in form.fields}
    return client.post(reverse(CONFIRM_URL), fields)


def total(page: str, what: str) -> int:
    match = re.search(rf'id="total-{what}">(\d+)<', page)
    assert match, f"no {what} total on the page"
    return int(match.group(1))


def flashed(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def actions(job) -> list[str]:
    events = AuditEvent.objects.filter(job_id=job.pk).order_by("pk")
    return list(events.values_list("action", flat=True))


def test_resources_are_the_layouts_and_leave_the_engine_alone():
    assert {r.kind for r in ADMIN_RESOURCES} == set(REGISTRY)
    for resource in ADMIN_RESOURCES:
        layout = REGISTRY[resource.kind]
        assert issubclass(resource, layout) and resource is not layout
        assert resource.columns() == layout.columns()
    assert ADMIN_RESOURCES[0].kind == JobKind.PRODUCTS  # in the order files are loaded


def test_users_then_orders_preview_and_confirm_as_audited_jobs(staff_client):
    client, op = staff_client("operator")
    page = client.get(reverse(IMPORT_URL))
    assert page.status_code == 200
    assert "Sejoli users" in page.content.decode() and "5,000 rows" in page.content.decode()

    # --- users: the preview is a validated job; nothing written yet ---------------------------
    preview = upload(client, JobKind.USERS, USERS_CSV, name="users.csv")
    assert preview.status_code == 200
    body = preview.content.decode()
    assert (total(body, "new"), total(body, "update"), total(body, "skip")) == (3, 0, 0)
    assert total(body, "error") == 1
    assert "no_email" in body and "Tanpa Email" in body  # the rejected row, with its reason
    assert "putri.hidayat@example.com" in body  # a sample row
    assert "Confirm import" in body
    assert not Member.objects.exists()
    job = ImportJob.objects.get()
    assert (job.status, job.kind, job.created_by, job.original_name) == (
        JobStatus.READY,
        JobKind.USERS,
        op,
        "users.csv",
    )
    assert preview.context["confirm_form"].initial["job"] == job.pk
    assert actions(job) == ["import.job.uploaded", "import.job.validated"]
    assert AuditEvent.objects.get(action="import.job.uploaded", job_id=job.pk).actor == op

    # --- confirm: the same job is confirmed and applied in the request ------------------------
    done = confirm(client, preview)
    assert done.status_code == 302 and done["Location"] == reverse(CHANGELIST_URL)
    assert any(f"#{job.pk}</a> completed: 3 created" in m for m in flashed(done))
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert ImportJob.objects.count() == 1  # no second job
    assert set(Member.objects.values_list("email", flat=True)) == {
        "putri.hidayat@example.com",
        "rina.wijaya@example.com",
        "budi.santoso@example.com",
    }
    assert set(Member.objects.values_list("job_id", flat=True)) == {job.pk}
    assert SejoliAccount.objects.count() == 3
    assert actions(job) == [
        "import.job.uploaded",
        "import.job.validated",
        "import.job.confirmed",
        "import.job.started",
        "import.job.completed",
    ]
    assert AuditEvent.objects.get(action="import.job.confirmed", job_id=job.pk).actor == op

    # --- orders, whose buyers are the members just imported -----------------------------------
    preview = upload(client, JobKind.ORDERS, ORDERS_CSV, name="orders.csv")
    body = preview.content.decode()
    assert total(body, "new") == 2 and total(body, "error") == 1
    assert "no_contact" in body
    assert not Order.objects.exists()
    orders_job = ImportJob.objects.get(kind=JobKind.ORDERS)
    assert orders_job.status == JobStatus.READY
    assert actions(orders_job) == ["import.job.uploaded", "import.job.validated"]
    confirm(client, preview)
    orders_job.refresh_from_db()
    assert orders_job.status == JobStatus.COMPLETED
    assert dict(Order.objects.values_list("inv", "member__email")) == {
        "9001": "putri.hidayat@example.com",
        "9002": "budi.santoso@example.com",
    }
    assert Member.objects.count() == 3  # the buyers were found, not created again
    assert {"import.job.confirmed", "import.job.completed"} <= set(actions(orders_job))


def test_a_second_confirm_applies_nothing(staff_client):
    client, _ = staff_client("operator")
    preview = upload(client, JobKind.USERS, USERS_CSV)
    confirm(client, preview)
    again = confirm(client, preview)
    assert again.status_code == 302
    assert any("nothing was applied" in m for m in flashed(again))
    assert Member.objects.count() == 3
    assert AuditEvent.objects.filter(action="import.job.confirmed").count() == 1


def test_confirm_only_applies_the_users_own_previewed_job(staff_client):
    client, _ = staff_client("operator")
    other, _ = staff_client("operator")
    preview = upload(client, JobKind.USERS, USERS_CSV)
    other_preview = upload(other, JobKind.USERS, USERS_CSV)
    own = other_preview.context["confirm_form"].initial
    fields = {n: own[n] for n in ("import_file_name", "original_file_name", "format", "resource")}
    fields["job"] = preview.context["confirm_form"].initial["job"]  # someone else's job
    response = other.post(reverse(CONFIRM_URL), fields)
    assert response.status_code == 302
    assert any("No previewed import" in m for m in flashed(response))
    assert not Member.objects.exists()
    assert set(ImportJob.objects.values_list("status", flat=True)) == {JobStatus.READY}


def test_quoted_header_as_php_writes_it_is_read(staff_client):
    client, _ = staff_client("operator")
    data = USERS_CSV.replace(b"User ID,", b'"User ID",', 1)
    body = upload(client, JobKind.USERS, data).content.decode()
    assert total(body, "new") == 3


def test_a_file_of_another_layout_is_refused_as_a_base_error(staff_client):
    client, _ = staff_client("operator")
    response = upload(client, JobKind.USERS, ORDERS_CSV)
    body = response.content.decode()
    assert response.status_code == 200
    assert "The file was not imported" in body and "not users" in body
    assert "Confirm import" not in body and "Traceback" not in body
    assert not ImportJob.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="import.job").exists()


def test_more_rows_than_the_admin_cap_are_refused(staff_client):
    client, _ = staff_client("operator")
    rows = "".join(
        f"{i},Member {i},member{i}@example.com,0812{i:08d},-,-,Member\n"
        for i in range(1, MAX_ROWS + 2)
    )
    response = upload(client, JobKind.USERS, (USERS_HEADER + rows).encode())
    body = response.content.decode()
    assert f"{MAX_ROWS + 1:,} rows" in body and "at most 5,000 rows" in body
    assert reverse("imports:job_upload") in body
    assert "Confirm import" not in body
    assert not ImportJob.objects.exists() and not Member.objects.exists()


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(staff_client):
    client, _ = staff_client("operator")
    address = "Jl. Panjang " + "x" * 1900
    rows = "".join(
        f"{i},Member {i},member{i}@example.com,0812{i:08d},{address},-,Member\n"
        for i in range(1, MAX_BYTES // 1900 + 10)
    )
    data = (USERS_HEADER + rows).encode()
    assert len(data) > MAX_BYTES
    response = upload(client, JobKind.USERS, data)
    body = response.content.decode()
    assert "the admin imports at most" in body and "2 MB" in body
    assert reverse("imports:job_upload") in body
    assert not ImportJob.objects.exists()


def test_a_viewer_cannot_import(staff_client):
    client, _ = staff_client("viewer")
    changelist = client.get(reverse(CHANGELIST_URL))
    assert changelist.status_code == 200
    assert reverse(IMPORT_URL) not in changelist.content.decode()
    assert client.get(reverse(IMPORT_URL)).status_code == 403
    assert upload(client, JobKind.USERS, USERS_CSV).status_code == 403
    assert client.post(reverse(CONFIRM_URL), {}).status_code == 403
    assert not ImportJob.objects.exists() and not Member.objects.exists()


def test_an_operator_sees_the_import_button(staff_client):
    client, _ = staff_client("operator")
    changelist = client.get(reverse(CHANGELIST_URL)).content.decode()
    assert reverse(IMPORT_URL) in changelist


def test_an_xlsx_file_is_imported_through_a_csv_job(staff_client):
    from io import BytesIO

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for line in USERS_CSV.decode().splitlines():
        sheet.append(line.split(","))
    buffer = BytesIO()
    book.save(buffer)
    client, _ = staff_client("operator")
    response = client.post(
        reverse(IMPORT_URL),
        {
            "resource": resource_index(JobKind.USERS),
            "format": "1",  # XLSX
            "import_file": SimpleUploadedFile("users.xlsx", buffer.getvalue()),
        },
    )
    body = response.content.decode()
    assert total(body, "new") == 3 and "no_email" in body
    job = ImportJob.objects.get()
    assert job.original_name == "users.csv" and job.status == JobStatus.READY
    confirm(client, response)
    assert Member.objects.count() == 3
