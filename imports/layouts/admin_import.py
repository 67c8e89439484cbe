"""The admin's Import (django-import-export's upload -> preview -> confirm) for small files,
with the same layout resources as the job engine, and audited like any job.

``AdminImportMixin`` in front of a ``LayoutResource`` replaces import-export's own row saving:
``import_data`` turns the uploaded dataset back into CSV and hands it to the job services.

- dry run (the preview page): ``job_create(validate="now")`` stores the file and dry-runs it
  (``import.job.uploaded`` / ``import.job.validated``); its preview comes back as an
  import-export ``Result``: totals new / update / skip / error = created / updated / unchanged
  / rejected, a ``RowResult`` per sample row and per rejected row (the reason in its
  ``validation_error``), the layout's columns as ``diff_headers``, the job as ``result.job``.
- confirm (``dry_run=False``): the job of that preview (``job_id`` from the confirm form, else
  the newest ready job of the same kind, file and user) goes through ``job_confirm`` +
  ``job_apply`` in this request (``import.job.confirmed`` / ``started`` / ``completed``).

A refused file (``ValidationError``, ``PermissionDenied``, over the admin's cap) comes back as a
base error with nothing written. Rejected rows are not import-export errors: like a job, the
file applies without them, so ``has_errors()`` and ``has_validation_errors()`` stay False and
the confirm button is offered. The admin runs in the web request (django-import-export reads
the file there), so it takes only small files: over ``MAX_BYTES`` / ``MAX_ROWS``, or an XLSX
unpacking to more than ``MAX_UNCOMPRESSED`` (checked before openpyxl opens it), they belong to
the job pages (/imports/), whose requests only store the file for the worker to read.
"""

import csv
import hashlib
import io
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from import_export.results import Error, Result, RowResult

from .. import services
from ..choices import KIND_ORDER, JobKind, JobStatus
from ..formats import cell_text  # XLSX cells as the job engine reads them
from ..models import ImportJob
from .base import REGISTRY, LayoutResource

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5_000
# What an XLSX may unpack to before import-export's openpyxl reads it in the request (checked
# from the archive's declared sizes by the admin's form, ``formats.xlsx_check``).
MAX_UNCOMPRESSED = 32 * 1024 * 1024
# Rejected rows listed on the preview page (all of them are on the job page and in its CSV).
SHOWN_REJECTED = 200

OUTCOME_TYPES = {
    "created": RowResult.IMPORT_TYPE_NEW,
    "updated": RowResult.IMPORT_TYPE_UPDATE,
    "unchanged": RowResult.IMPORT_TYPE_SKIP,
}


class Refused(Exception):
    """A whole file refused: its message is shown as the import's base error."""


def too_large_message(*, size: int | None = None, rows: int | None = None) -> str:
    found = f"{rows:,} rows" if rows is not None else f"{(size or 0) / 1_048_576:.1f} MB"
    return (
        f"This file has {found}; the admin imports at most {MAX_ROWS:,} rows and "
        f"{MAX_BYTES // 1_048_576} MB, because it works inside the web request. Upload larger "
        f"files as an import job at {reverse('imports:job_upload')} (they run in the background)."
    )


def dataset_to_csv(dataset) -> tuple[bytes, list[str], list[list[str]]]:
    """(CSV bytes, header, data rows) of a tablib dataset; blank rows are left out, as the job
    engine skips them, so data row N of the job is ``rows[N - 1]``."""
    headers = [cell_text(h) for h in (dataset.headers or [])]
    if not any(h.strip() for h in headers):
        raise Refused("The file has no header row.")
    rows = []
    for record in dataset:
        cells = [cell_text(v) for v in record]
        if any(c.strip() for c in cells):
            rows.append(cells)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8"), headers, rows


def _messages(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or exc.__class__.__name__


class JobResult(Result):
    """An import-export ``Result`` that knows the job it reports on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.job: ImportJob | None = None
        self.rejected_total = 0

    def refuse(self, message: str) -> "JobResult":
        self.append_base_error(Error(Refused(message)))
        return self

    @property
    def rejected_rows(self) -> list[RowResult]:
        return [r for r in self.rows if r.import_type == RowResult.IMPORT_TYPE_ERROR]

    @property
    def rejected_not_shown(self) -> int:
        return max(0, self.rejected_total - len(self.rejected_rows))


class AdminImportMixin:
    """Put in front of a ``LayoutResource`` (see ``admin_resource``) for the admin's Import."""

    # the engine keeps reading through the layout itself, not through this admin variant
    registers = False

    @classmethod
    def get_display_name(cls) -> str:
        return JobKind(cls.kind).label

    def get_result_class(self):
        return JobResult

    def get_diff_headers(self) -> list[str]:
        return self.columns()

    def get_user_visible_fields(self):
        # one per file column (two fields may read the same column)
        seen, fields = set(), []
        for field in self.get_import_fields():
            if field.column_name not in seen:
                seen.add(field.column_name)
                fields.append(field)
        return fields

    def import_data(
        self,
        dataset,
        dry_run=False,
        raise_errors=False,
        use_transactions=None,
        collect_failed_rows=False,
        **kwargs,
    ):
        """Preview (``dry_run``) or apply the dataset through an import job; see the module."""
        result = self.get_result_class()()
        result.diff_headers = self.get_diff_headers()
        result.total_rows = len(dataset)
        user = kwargs.get("user") or getattr(kwargs.get("request"), "user", None)
        try:
            data, headers, rows = dataset_to_csv(dataset)
            if len(data) > MAX_BYTES:
                raise Refused(too_large_message(size=len(data)))
            if len(rows) > MAX_ROWS:
                raise Refused(too_large_message(rows=len(rows)))
            if dry_run:
                job = services.job_create(
                    actor=user,
                    data=data,
                    name=_csv_name(kwargs.get("file_name")),
                    kind=self.kind,
                    validate="now",
                )
            else:
                job = self._apply(user, data, kwargs.get("job_id"))
        except (Refused, ValidationError, PermissionDenied) as exc:
            if raise_errors:
                raise
            return result.refuse(_messages(exc))
        result.job = job
        if job.status == JobStatus.FAILED:
            return result.refuse(f"Import job #{job.pk} failed: {job.error}")
        if dry_run:
            self._preview(result, job, headers, rows)
        else:
            self._applied(result, job)
        return result

    # --- confirm ---------------------------------------------------------------------------
    def _apply(self, user, data: bytes, job_id) -> ImportJob:
        """Confirm and apply, in this request, the ready job that previewed this very file."""
        jobs = ImportJob.objects.filter(
            kind=self.kind,
            sha256=hashlib.sha256(data).hexdigest(),
            created_by=user,
            status=JobStatus.READY,
        )
        if job_id:
            jobs = jobs.filter(pk=job_id)
        job = jobs.order_by("-pk").first()
        if job is None:
            raise Refused(
                "No previewed import of this file is waiting to be applied (it may have been "
                "applied or cancelled meanwhile). Upload the file again."
            )
        services.job_confirm(actor=user, job=job, enqueue=False)
        try:
            return services.job_apply(job_id=job.pk)
        except Exception as exc:  # job_apply marked the job failed (audited) before raising
            job.refresh_from_db()
            raise Refused(
                f"Import job #{job.pk} stopped: {_messages(exc)}. It can be resumed from its "
                f"page at {job.get_absolute_url()}."
            ) from exc

    def _applied(self, result: JobResult, job: ImportJob) -> None:
        result.totals[RowResult.IMPORT_TYPE_NEW] = job.created_count
        result.totals[RowResult.IMPORT_TYPE_UPDATE] = job.updated_count
        result.totals[RowResult.IMPORT_TYPE_SKIP] = job.unchanged_count
        result.totals[RowResult.IMPORT_TYPE_ERROR] = job.rejected_count
        result.rejected_total = job.rejected_count
        result.total_rows = job.total_rows

    # --- preview ---------------------------------------------------------------------------
    def _preview(self, result: JobResult, job: ImportJob, headers, rows) -> None:
        preview = job.preview
        result.totals[RowResult.IMPORT_TYPE_NEW] = preview.get("created", 0)
        result.totals[RowResult.IMPORT_TYPE_UPDATE] = preview.get("updated", 0)
        result.totals[RowResult.IMPORT_TYPE_SKIP] = preview.get("unchanged", 0)
        result.totals[RowResult.IMPORT_TYPE_ERROR] = job.rejected_count
        result.rejected_total = job.rejected_count
        result.total_rows = job.total_rows
        columns = result.diff_headers
        for sample in preview.get("samples", []):
            number, key = sample["row"], str(sample["key"])
            cells = rows[number - 1] if 0 < number <= len(rows) else []
            raw = dict(zip(headers, cells, strict=False))
            if raw and self.key_of(raw) != key:
                raw = {}  # the engine counted rows differently (e.g. PHP notices): key only
            row = self._row_result(OUTCOME_TYPES[sample["outcome"]], number, key, raw, columns)
            result.append_row_result(row)
        for error in job.row_errors.order_by("row")[:SHOWN_REJECTED]:
            row = self._row_result(
                RowResult.IMPORT_TYPE_ERROR, error.row, error.key, error.raw or {}, columns
            )
            row.reason = error.reason
            row.validation_error = ValidationError(error.reason)
            result.append_row_result(row)

    @staticmethod
    def _row_result(import_type: str, number: int, key: str, raw: dict, columns) -> RowResult:
        row = RowResult()
        row.import_type = import_type
        row.number = number
        row.object_repr = key
        row.diff = [raw.get(column, "") for column in columns]
        row.row_values = raw
        return row


def _csv_name(file_name: str | None) -> str:
    """The job's file name: the upload's, as CSV (the job stores the dataset as CSV)."""
    path = Path(file_name or "admin-import.csv")
    return path.name if path.suffix.lower() == ".csv" else f"{path.stem or 'admin-import'}.csv"


def admin_resource(layout: type[LayoutResource]) -> type:
    """The admin's import resource of one layout: the layout's columns and widgets, imported
    through a job."""
    return type(
        f"{layout.__name__}AdminImport",
        (AdminImportMixin, layout),
        {"__module__": __name__, "__doc__": f"Admin import of {layout.__name__}."},
    )


def _kinds() -> list[str]:
    known = [kind for kind in KIND_ORDER if kind in REGISTRY]
    return known + sorted(kind for kind in REGISTRY if kind not in known)


# One per layout, in the order files are loaded (product settings, users, orders, ...).
ADMIN_RESOURCES: list[type] = [admin_resource(REGISTRY[kind]) for kind in _kinds()]
