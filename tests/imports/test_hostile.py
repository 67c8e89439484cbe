"""Hostile files get a clear error (nothing stored) or clean per-row rejections."""

import io

import pytest
from django.core.exceptions import ValidationError

from imports import services
from imports.formats import parse_bytes
from imports.models import ImportJob, Member
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, apply_file, make_job

pytestmark = pytest.mark.django_db
USERS_HEADER = b"User ID,name,email,phone,address,affiliate,group\n"


def upload(actor, data: bytes, name="f.csv"):
    return services.job_create(actor=actor, data=data, name=name, validate="now")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50, "NUL bytes"),
        (b"\x01\x02\x03\x04\x05\x06garbage\x07\x08" * 100, "binary"),
        (b"a;b;c\n1;2;3\n", "matches no known layout"),
        (",".join(f"c{i}" for i in range(10_000)).encode() + b"\n1,2\n", "more than 200 columns"),
        (b"User ID\tname\n1\tx\n", "matches no known layout"),
    ],
    ids=["empty", "blank", "png", "controls", "unknown", "10k-columns", "wrong-delimiter"],
)
def test_file_level_errors_store_nothing(user_factory, data, message):
    op = user_factory("operator")
    with pytest.raises(ValidationError, match=message):
        upload(op, data)
    assert not ImportJob.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="import.").exists()


def test_60_mb_file_is_refused(user_factory):
    op = user_factory("operator")
    big = USERS_HEADER + b"2,A,a@example.com,0812,-,-,-\n" * (60 * 1024 * 1024 // 28)
    assert len(big) > 60 * 1024 * 1024 - 100
    with pytest.raises(ValidationError, match="limit is 50 MB"):
        upload(op, big)
    assert not ImportJob.objects.exists()


def test_header_only_fails_validation_clearly(user_factory):
    op = user_factory("operator")
    job = upload(op, USERS_HEADER)
    assert job.status == "failed"
    assert job.error == "The file has a header but no data rows."
    with pytest.raises(ValidationError):
        services.job_confirm(actor=op, job=job)


def test_unterminated_quote_fails_validation_and_writes_nothing(user_factory):
    op = user_factory("operator")
    data = (
        USERS_HEADER
        + b'2,Budi,budi@example.com,0812,"Jl. Merdeka\n3,Siti,siti@example.com,0813,-,-,-\n'
    )
    job = upload(op, data)
    assert job.status == "failed"
    assert "not valid CSV" in job.error
    assert not Member.objects.exists()
    assert AuditEvent.objects.filter(job_id=job.pk, action="import.job.failed").exists()


def test_bad_rows_are_rejected_one_by_one(user_factory):
    op = user_factory("operator")
    data = USERS_HEADER + (
        b"2,Budi,budi@example.com,0812345678,-,-,-\n"
        b"3,Siti,not-an-email,0812,-,-,-\n"
        b"x,Agus,agus@example.com,0812,-,-,-\n"
        b"5,Dewi,dewi@example.com\n"
        b'6,=HYPERLINK("http://x"),eko@example.com,0812,-,-,-\n'
    )
    job = upload(op, data)
    assert list(job.row_errors.values_list("row", "reason")) == [
        (2, "bad_email"), (3, "bad_number"), (4, "expected 7 columns, found 3"),
    ]  # fmt: skip
    services.job_confirm(actor=op, job=job, enqueue=False)
    services.job_apply(job_id=job.pk)
    assert sorted(Member.objects.values_list("email", flat=True)) == [
        "budi@example.com", "eko@example.com",
    ]  # fmt: skip
    # a formula-looking name is stored as text, and escaped on export
    assert Member.objects.get(email="eko@example.com").name.startswith("=HYPERLINK")


def test_encodings_and_delimiters_are_detected(user_factory):
    op = user_factory("operator")
    text = (
        "User ID;name;email;phone;address;affiliate;group\n"
        "2;Dédé Müller;dede@example.com;0812345678;-;-;-\n"
    )
    for encoding, data in [
        ("utf-8-sig", text.encode("utf-8-sig")),
        ("cp1252", text.encode("cp1252")),
        ("utf-8", text.encode()),
    ]:
        source = parse_bytes(data)
        assert (source.kind, source.encoding, source.delimiter) == ("users", encoding, ";")
        assert next(source.rows())[1]["name"] == "Dédé Müller"
    job = upload(op, text.encode("cp1252"))
    services.job_confirm(actor=op, job=job, enqueue=False)
    services.job_apply(job_id=job.pk)
    assert Member.objects.get().name == "Dédé Müller"


def test_stray_preamble_and_php_warnings_are_skipped():
    data = (
        b"Format distrik tidak sesuai.User ID,name,email,phone,address,affiliate,group\n"
        b'2,Budi,budi@example.com,0812,"Jl. A\nKOTA BANDUNG",-,-\n'
        b'Warning: Undefined array key "district" in /var/www/sejoli.php on line 12\n'
        b"3,Siti,siti@example.com,0813,-,-,-\n"
    )
    rows = list(parse_bytes(data).rows())
    assert [r["User ID"] for _, r in rows] == ["2", "3"]
    assert rows[0][1]["address"] == "Jl. A\nKOTA BANDUNG"


def test_xlsx_is_read(user_factory):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["User ID", "name", "email", "phone", "address", "affiliate", "group"])
    sheet.append([2, "Budi", "Budi@Example.com", "0812345678", "-", "-", "-"])
    buf = io.BytesIO()
    book.save(buf)
    op = user_factory("operator")
    job = upload(op, buf.getvalue(), name="users.xlsx")
    assert job.kind == "users" and job.preview["created"] == 1


def test_wrong_kind_is_refused(user_factory):
    op = user_factory("operator")
    with pytest.raises(ValidationError, match="users export, not orders"):
        services.job_create(actor=op, data=(CLEAN / "users.csv").read_bytes(), name="u.csv",
                            kind="orders", validate="no")  # fmt: skip


def test_orders_before_users_create_members_from_orders(user_factory):
    op = user_factory("operator")
    job = apply_file(op, CLEAN / "orders.csv")
    assert job.status == "completed"
    assert Member.objects.count() > 0


def test_column_mapping_reads_other_layouts(user_factory):
    op = user_factory("operator")
    data = b"Kode;Nama Lengkap;Surel;HP\n7;Budi;budi@example.com;0812345678\n"
    mapping = {"User ID": "Kode", "name": "Nama Lengkap", "email": "Surel", "phone": "HP",
               "address": "", "affiliate": "", "group": ""}  # fmt: skip
    job = services.job_create(actor=op, data=data, name="x.csv", kind="users", mapping=mapping,
                              validate="now")  # fmt: skip
    assert job.preview["created"] == 1
    services.job_confirm(actor=op, job=job, enqueue=False)
    services.job_apply(job_id=job.pk)
    assert Member.objects.get().phone == "+62812345678"
    preset = services.preset_save(actor=op, name="HP export", kind="users", mapping=mapping)
    assert AuditEvent.objects.filter(
        action="import.preset.saved", target_id=str(preset.pk)
    ).exists()


def test_make_job_helper_keeps_batch_size(user_factory):
    job = make_job(user_factory("operator"), CLEAN / "users.csv", batch_size=10)
    assert job.batch_size == 10 and job.batches == 6
