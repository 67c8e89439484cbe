"""Uploads are never read in the web request, and an XLSX zip bomb is refused from its archive's
declared sizes before anything unpacks it (issue 14, item 5)."""

import hashlib
import time
import tracemalloc
import zipfile
from io import BytesIO, StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from imports import formats, services
from imports.choices import JobKind, JobStatus
from imports.layouts.admin_import import ADMIN_RESOURCES
from imports.models import ImportJob
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, committed

pytestmark = pytest.mark.django_db

SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
# The parts Excel writes for one sheet, as small as they can be (ECMA-376 part 1).
XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_NS}">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{SHEET_NS}" '
        f'xmlns:r="{REL_NS}"><sheets><sheet name="users" sheetId="1" r:id="rId1"/></sheets>'
        "</workbook>"
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_NS}">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}
BOMB_MB = 256


def _cells(values) -> bytes:
    cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)
    return f"<row>{cells}</row>".encode()


def write_xlsx(fileobj, rows, *, repeat_mb: int = 0, level: int = 1) -> None:
    """An XLSX whose sheet XML is streamed into the archive: ``rows``, then (for a bomb)
    ``repeat_mb`` MB of one highly compressible row, never held in memory whole."""
    with zipfile.ZipFile(fileobj, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, text in XLSX_PARTS.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{SHEET_NS}">'
                        "<sheetData>".encode())  # fmt: skip
            for row in rows:
                sheet.write(_cells(row))
            if repeat_mb:
                row = _cells(["Budi Santoso", "budi@example.com", "081310002222", "-"])
                block = row * (1024 * 1024 // len(row))
                for _ in range(repeat_mb):
                    sheet.write(block)
            sheet.write(b"</sheetData></worksheet>")


USERS_HEADER = ["User ID", "name", "email", "phone", "address", "affiliate", "group"]
USERS_ROWS = [
    ["2", "Putri Hidayat", "putri@example.com", "081210000000", "-", "-", "Member"],
    ["3", "Rina Wijaya", "rina@example.com", "081210007919", "-", "-", "Member"],
]


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    """~3 MB of XLSX that unpacks to 256 MB of sheet XML (the issue's was 2.5 MB -> 586 MB)."""
    path = tmp_path_factory.mktemp("bomb") / "users.xlsx"
    with path.open("wb") as fh:
        write_xlsx(fh, [USERS_HEADER, *USERS_ROWS], repeat_mb=BOMB_MB)
    info = {i.filename: i for i in zipfile.ZipFile(path).infolist()}
    sheet = info["xl/worksheets/sheet1.xml"]
    assert sheet.file_size > 250 * 1024 * 1024 and path.stat().st_size < 4 * 1024 * 1024
    return path


@pytest.fixture
def no_openpyxl(monkeypatch):
    """Fail the test if anything opens a workbook (the refusal must come before)."""
    import openpyxl
    import openpyxl.reader.excel

    def refuse(*args, **kwargs):
        raise AssertionError("openpyxl was asked to open the workbook")

    monkeypatch.setattr(openpyxl, "load_workbook", refuse)
    monkeypatch.setattr(openpyxl.reader.excel, "load_workbook", refuse)


def test_the_upload_request_stores_and_hashes_only(client_for, monkeypatch):
    client, op = client_for("operator")
    data = (CLEAN / "users.csv").read_bytes()

    def no_parsing(*args, **kwargs):
        raise AssertionError("the web request read the file's rows")

    monkeypatch.setattr(formats, "parse_bytes", no_parsing)
    monkeypatch.setattr("imports.services.upload.parse_bytes", no_parsing)
    response = client.post(
        reverse("imports:job_upload"),
        {"file": SimpleUploadedFile("users.csv", data), "kind": "auto", "batch_size": 100},
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job.get_absolute_url()
    assert job.status == JobStatus.UPLOADED and job.kind == "auto"
    assert job.sha256 == hashlib.sha256(data).hexdigest() and job.size == len(data)
    assert job.file.read() == data
    uploaded = AuditEvent.objects.get(action="import.job.uploaded", job_id=job.pk)
    assert uploaded.actor == op and uploaded.changes["sha256"] == job.sha256

    monkeypatch.undo()
    services.job_validate(job_id=job.pk)  # what the worker's task does
    job.refresh_from_db()
    assert job.status == JobStatus.READY and job.kind == JobKind.USERS
    assert job.encoding == "utf-8" and job.delimiter == ","
    assert job.preview["columns"][:2] == ["User ID", "name"] and job.preview["created"] == 60
    recognised = AuditEvent.objects.get(action="import.job.recognised", job_id=job.pk)
    assert recognised.changes["kind"] == ["auto", "users"]
    assert AuditEvent.objects.filter(action="import.job.validated", job_id=job.pk).exists()


def test_a_zip_bomb_is_refused_at_upload_in_a_second_and_a_few_mb(user_factory, bomb, no_openpyxl):
    op = user_factory("operator")
    tracemalloc.start()
    started = time.monotonic()
    with bomb.open("rb") as fh, pytest.raises(ValidationError, match="unpacks to 256 MB"):
        services.job_create(actor=op, file=fh, name="users.xlsx")
    seconds = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert seconds < 1.0
    assert peak < 8 * 1024 * 1024
    assert not ImportJob.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="import.").exists()


def test_a_zip_bomb_posted_to_the_upload_page_is_refused(client_for, bomb, no_openpyxl):
    client, _ = client_for("operator")
    started = time.monotonic()
    response = client.post(
        reverse("imports:job_upload"),
        {"file": SimpleUploadedFile("users.xlsx", bomb.read_bytes()), "kind": "auto",
         "batch_size": 1000},
    )  # fmt: skip
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert "unpacks to 256 MB; the limit is 200 MB" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_worker_refuses_a_bomb_stored_before_the_check(bomb, no_openpyxl):
    with pytest.raises(ValidationError, match="limit is 200 MB"):
        formats.parse_bytes(bomb.read_bytes())


def test_the_compression_ratio_is_refused_under_the_size_limit(settings, bomb, no_openpyxl):
    settings.IMPORT_XLSX_MAX_UNCOMPRESSED = 1024 * 1024 * 1024
    with pytest.raises(ValidationError, match=r"times its packed size \(the limit is 100:1\)"):
        formats.xlsx_check(bomb.read_bytes())
    settings.IMPORT_XLSX_MAX_RATIO = 1000
    formats.xlsx_check(bomb.read_bytes())  # within both limits now


def test_the_admin_import_refuses_a_bomb_before_opening_it(user_factory, bomb, settings):
    from django.test import Client

    # the admin's cap is 2 MB of upload: a bomb of that size (and 32+ MB unpacked) is enough
    small = BytesIO()
    write_xlsx(small, [USERS_HEADER, *USERS_ROWS], repeat_mb=40)
    assert len(small.getvalue()) < 2 * 1024 * 1024
    user = user_factory("operator", is_staff=True)
    client = Client()
    client.force_login(user)
    import openpyxl

    calls = []
    real = openpyxl.load_workbook
    openpyxl.load_workbook = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        response = client.post(
            reverse("admin:imports_importjob_import"),
            {
                "resource": str(next(i for i, r in enumerate(ADMIN_RESOURCES)
                                     if r.kind == JobKind.USERS)),
                "format": "1",
                "import_file": SimpleUploadedFile("users.xlsx", small.getvalue()),
            },
        )  # fmt: skip
    finally:
        openpyxl.load_workbook = real
    assert response.status_code == 200
    assert "the limit is 32 MB" in response.content.decode()
    assert calls == [] and not ImportJob.objects.exists()


def test_an_ordinary_xlsx_still_imports_through_the_worker(client_for):
    client, _ = client_for("operator")
    buffer = BytesIO()
    write_xlsx(buffer, [USERS_HEADER, *USERS_ROWS])
    with committed():
        response = client.post(
            reverse("imports:job_upload"),
            {"file": SimpleUploadedFile("users.xlsx", buffer.getvalue()), "kind": "auto",
             "batch_size": 100},
        )  # fmt: skip
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.status, job.kind, job.encoding) == (JobStatus.READY, JobKind.USERS, "xlsx")
    assert job.preview["created"] == 2
    assert AuditEvent.objects.filter(action="import.job.validated", job_id=job.pk).exists()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_rows_are_capped(user_factory, settings, fmt):
    settings.IMPORT_MAX_ROWS = 5
    op = user_factory("operator")
    rows = [[str(n), f"Name {n}", f"n{n}@example.com", "", "-", "-", "Member"] for n in range(9)]
    if fmt == "csv":
        data = "\n".join(",".join(r) for r in [USERS_HEADER, *rows]).encode()
    else:
        buffer = BytesIO()
        write_xlsx(buffer, [USERS_HEADER, *rows])
        data = buffer.getvalue()
    job = services.job_create(actor=op, data=data, name=f"users.{fmt}", validate="no")
    services.job_validate(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert "more than 5 data rows" in job.error
    failed = AuditEvent.objects.get(action="import.job.failed", job_id=job.pk)
    assert failed.message == job.error


def test_the_cli_still_refuses_a_bomb_with_a_clear_message(bomb, no_openpyxl):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="limit is 200 MB"):
        call_command("import_sejoli", str(bomb), stdout=StringIO())
