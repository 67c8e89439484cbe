"""The column-mapping page reads a sample's headers (bounded) and offers them as pick lists."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from imports import sample_headers
from imports.models import ColumnPreset, ImportJob
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, committed, make_job

pytestmark = pytest.mark.django_db

CRM = b"Kode;Nama;Surel;HP\n7;Budi;BUDI@example.com;0812345678\n"


class CountingReader(io.BytesIO):
    def __init__(self, data):
        super().__init__(data)
        self.taken = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.taken += len(chunk)
        return chunk


def _xlsx(rows) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_csv_header_read_from_the_beginning_only():
    big = CountingReader(CRM + b"8;Ani;ani@example.com;0812\n" * 400_000)  # ~11 MB
    assert sample_headers.read_headers(big) == ["Kode", "Nama", "Surel", "HP"]
    assert big.taken <= sample_headers.SAMPLE_BYTES


def test_header_after_notices_and_duplicates_dropped():
    data = b"\n\nNotice: something\nINV,product,,product,email\n1,a,,a,b\n"
    assert sample_headers.read_headers_bytes(data) == ["INV", "product", "email"]


def test_xlsx_header_and_size_cap():
    data = _xlsx([["Kode", "Nama", "Surel"], [7, "Budi", "budi@example.com"]])
    assert sample_headers.read_headers_bytes(data) == ["Kode", "Nama", "Surel"]
    too_big = data + b"\0" * sample_headers.SAMPLE_XLSX_BYTES
    with pytest.raises(Exception, match="under 5 MB"):
        sample_headers.read_headers_bytes(too_big)


def test_no_header_is_an_error():
    with pytest.raises(Exception, match="No header"):
        sample_headers.read_headers_bytes(b"just one\n")


def test_page_reads_a_sample_then_saves_the_picked_columns(client_for):
    client, op = client_for("operator")
    url = reverse("imports:preset_create")
    page = client.get(url + "?kind=users").content.decode()
    assert 'data-testid="sample-form"' in page
    r = client.post(
        url,
        {"kind": "users", "name": "", "read_headers": "1",
         "sample": SimpleUploadedFile("crm.csv", CRM)},
    )  # fmt: skip
    assert r.status_code == 200
    page = r.content.decode()
    assert 'data-testid="sample-headers"' in page
    assert '<option value="Surel">Surel</option>' in page
    # nothing was stored: no job, no audit event
    assert not ImportJob.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="import.").exists()
    headers = r.context["form"]["headers"].value()
    r = client.post(
        url,
        {"kind": "users", "name": "CRM export", "headers": headers, "col_User ID": "Kode",
         "col_name": "Nama", "col_email": "Surel", "col_phone": "HP"},
    )  # fmt: skip
    assert r.status_code == 302
    preset = ColumnPreset.objects.get(name="CRM export")
    assert preset.mapping["email"] == "Surel" and preset.mapping["phone"] == "HP"
    assert AuditEvent.objects.get(action="import.preset.saved").actor == op


def test_a_name_not_in_the_sample_is_refused_and_the_choice_kept(client_for):
    client, _ = client_for("operator")
    url = reverse("imports:preset_create")
    r = client.post(
        url,
        {"kind": "users", "name": "CRM", "headers": '["Kode", "Surel"]', "col_email": "Other",
         "col_User ID": "Kode"},
    )  # fmt: skip
    assert r.status_code == 400
    assert not ColumnPreset.objects.exists()
    assert not AuditEvent.objects.filter(action="import.preset.saved").exists()
    assert '<option value="Kode" selected>Kode</option>' in r.content.decode()


def test_matching_names_are_preselected_and_an_earlier_upload_is_a_sample(client_for):
    client, op = client_for("operator")
    job = make_job(op, CLEAN / "users.csv")
    assert AuditEvent.objects.filter(action="import.job.uploaded", job_id=job.pk).exists()
    r = client.post(
        reverse("imports:preset_create"),
        {"kind": "users", "read_headers": "1", "job": job.pk},
    )
    assert r.status_code == 200
    form = r.context["form"]
    assert form["col_email"].value() == "email"  # spelled as the field: preselected
    assert len(form.headers) >= 4


def test_reading_without_a_sample_says_so(client_for):
    client, _ = client_for("operator")
    with committed():
        r = client.post(reverse("imports:preset_create"), {"kind": "users", "read_headers": "1"})
    assert r.status_code == 400
    assert "Choose a sample file" in r.content.decode()
