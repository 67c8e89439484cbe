"""Upload and preview: a file stored as a job, then dry-run in one rolled-back transaction."""

import hashlib
import io
import itertools
import logging
import time
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import File
from django.db import (
    transaction,
)

from opsportal.audit.services import record

from .. import engine
from ..choices import JobKind, JobStatus
from ..formats import MAX_BYTES, XLSX_MAGIC, canonical_mapping, parse_bytes, xlsx_check
from ..models import (
    ImportJob,
    ImportRowError,
)
from .common import (
    PERM_START,
    SAMPLE_ROWS,
    _hold_member_tables,
    _lock,
    _require,
    _worker,
)

logger = logging.getLogger(__name__)


# --- upload -------------------------------------------------------------------------------------
def _stored_name(digest: str, name: str) -> str:
    return f"{digest[:16]}-{name}"


def _hash(fileobj) -> tuple[str, int, bytes]:
    """(sha256, size, first bytes) of a file object, read a chunk at a time; rewound after."""
    digest, size, head = hashlib.sha256(), 0, b""
    fileobj.seek(0)
    while chunk := fileobj.read(1024 * 1024):
        digest.update(chunk)
        if not head:
            head = chunk[:8]
        size += len(chunk)
        if size > MAX_BYTES:
            break
    fileobj.seek(0)
    return digest.hexdigest(), size, head


def job_create(
    *,
    actor,
    data: bytes | None = None,
    file=None,
    name: str,
    kind: str = "auto",
    batch_size: int = 1000,
    mapping: dict | None = None,
    parent: ImportJob | None = None,
    validate: str = "background",
) -> ImportJob:
    """Store an uploaded file (with its sha256) as a job; validation runs next.

    The file is ``data`` (bytes) or ``file`` (an uploaded file or any seekable binary file
    object, read a chunk at a time). ``validate`` is ``"background"`` (a task), ``"now"`` (in
    this process, e.g. the CLI) or ``"no"``.

    In the background (the web pages), nothing here reads the file's content: the request
    checks its size and, for an XLSX, the archive's declared sizes (``formats.xlsx_check``:
    no sheet is unpacked), stores and hashes it; recognising the layout and reading the rows
    happen in the worker, where a bad file fails the job with its reason. Otherwise the file
    is recognised first and file-level problems raise ``ValidationError``, storing nothing.
    """
    _require(actor, PERM_START, "start imports")
    if not 10 <= batch_size <= 50_000:
        raise ValidationError("Batch size must be between 10 and 50,000 rows.")
    if kind != "auto" and kind not in JobKind.values:
        raise ValidationError(f"Unknown kind of data: {kind}.")
    if mapping:
        mapping = canonical_mapping(kind, mapping)
    fileobj = io.BytesIO(data) if data is not None else file
    if fileobj is None:
        raise ValidationError("No file was given.")
    digest, size, head = _hash(fileobj)
    if size > MAX_BYTES:
        raise ValidationError(
            f"The file is {size / 1_048_576:.0f} MB; the limit is {MAX_BYTES // 1_048_576} MB."
        )
    if size == 0:
        raise ValidationError("The file is empty.")
    if head.startswith(XLSX_MAGIC):
        xlsx_check(fileobj)
    fields = {"kind": kind, "encoding": "", "delimiter": ""}
    preview = {"mapping": mapping} if mapping else {}
    if validate != "background":
        source = parse_bytes(fileobj.read(), kind=kind, mapping=mapping)
        fileobj.seek(0)
        _check_importable(source.kind)
        fields = {"kind": source.kind, "encoding": source.encoding, "delimiter": source.delimiter}
        preview = (
            {"mapping": source.mapping, "columns": list(source.mapping)}
            if mapping
            else {"columns": source.columns}
        )
        del source  # the validation reads the stored file again: not two copies of a big file
    with transaction.atomic():
        job = ImportJob(
            original_name=Path(name).name[:255],
            sha256=digest,
            size=size,
            batch_size=batch_size,
            parent=parent,
            created_by=actor,
            preview=preview,
            **fields,
        )
        job.file.save(_stored_name(digest, job.original_name), File(fileobj), save=False)
        job.save()
        record(
            actor=actor,
            action="import.job.uploaded",
            target=job,
            job_id=job.pk,
            changes={
                "kind": job.kind,
                "sha256": digest,
                "size": size,
                "name": job.original_name,
            },
        )
        if validate == "background":
            transaction.on_commit(lambda: _async("imports.tasks.validate_job", job.pk))
    if validate == "now":
        job_validate(job_id=job.pk)
        job.refresh_from_db()
    return job


def _check_importable(kind: str) -> None:
    if kind not in engine.HANDLERS:
        raise ValidationError(
            f"{JobKind(kind).label} files are recognised but cannot be imported yet."
        )


def _async(func: str, job_id: int) -> None:
    from django_q.tasks import async_task

    async_task(func, job_id, cluster=settings.IMPORTS_CLUSTER)


def _source(job: ImportJob):
    with job.file.open("rb") as fh:
        data = fh.read()
    return parse_bytes(data, kind=job.kind, mapping=job.preview.get("mapping") or None)


def _recognised(job_id: int, source) -> ImportJob:
    """Keep what the worker recognised of an uploaded file (layout, encoding, columns)."""
    with transaction.atomic():
        job = _lock(job_id)
        if job.status != JobStatus.VALIDATING:
            return job
        before = job.kind
        job.kind, job.encoding, job.delimiter = source.kind, source.encoding, source.delimiter
        if source.mapping:
            job.preview = {
                **job.preview,
                "mapping": source.mapping,
                "columns": list(source.mapping),
            }
        else:
            job.preview = {**job.preview, "columns": source.columns}
        job.save(update_fields=["kind", "encoding", "delimiter", "preview"])
        if before != job.kind:
            record(
                actor=None,
                on_behalf_of=job.created_by,
                action="import.job.recognised",
                target=job,
                job_id=job.pk,
                changes={"kind": [before, job.kind], "encoding": job.encoding},
            )
    return job


def _batches(job: ImportJob, source=None):
    rows = (source or _source(job)).rows()
    while chunk := list(itertools.islice(rows, job.batch_size)):
        yield chunk


def _with_raw(rejected: list, chunk: list) -> list:
    """Keep each rejected row's original cells, so it can be fixed and uploaded again."""
    raws = {number: raw for number, raw in chunk if "__error__" not in raw}
    return [(r, k, why, raws.get(r, {})) for r, k, why in rejected]


class _DryRun(Exception):
    pass


def _dry_run(job: ImportJob, source=None) -> tuple[dict, list, list]:
    """Apply the whole file in one transaction and roll it back: (counts, rejected, samples).

    Holds the imports write lock throughout: a preview inserts the rows it would create, and
    would otherwise collide with (or wait on) a job applying the same members meanwhile."""
    counts = {"created": 0, "updated": 0, "unchanged": 0, "total": 0}
    rejected, samples = [], []
    state: dict = {}
    try:
        with transaction.atomic(), engine.bulk_work():
            _hold_member_tables()
            for number, chunk in enumerate(_batches(job, source)):
                engine.refresh_statistics(job, number, dry_run=True)
                result = engine.apply_batch(
                    job,
                    chunk,
                    sample_limit=SAMPLE_ROWS - len(samples),
                    dry_run=True,
                    state=state,
                )
                counts["total"] += len(chunk)
                for k in ("created", "updated", "unchanged"):
                    counts[k] += getattr(result, k)
                rejected += _with_raw(result.rejected, chunk)
                samples += result.samples
            raise _DryRun
    except _DryRun:
        pass
    return counts, rejected, samples


def job_validate(*, job_id: int) -> ImportJob:
    """Dry-run the whole file in one transaction that is rolled back: exact preview counts."""
    worker = _worker(job_id)
    job = worker.run(partial(_validation_start, job_id))
    if job.status != JobStatus.VALIDATING:
        return job
    started = time.monotonic()
    try:
        # the file is read here, in the worker (or the command line), never in a web request
        source = _source(job)
        _check_importable(source.kind)
        job = worker.run(partial(_recognised, job_id, source))
        if job.status != JobStatus.VALIDATING:
            return job
        counts, rejected, samples = worker.run(partial(_dry_run, job, source))
    except Exception as exc:  # a bad file must not leave the job "validating"
        if isinstance(exc, ValidationError):
            message = "; ".join(exc.messages)
        else:
            logger.exception("validation of import job %s stopped", job_id)
            message = f"Validation stopped: {exc.__class__.__name__}: {exc}"[:1000]
        with transaction.atomic():
            job = _lock(job_id)
            job.status, job.error = JobStatus.FAILED, message
            job.save(update_fields=["status", "error"])
            record(
                actor=None, action="import.job.failed", target=job, job_id=job.pk, message=job.error
            )
        return job
    seconds = round(time.monotonic() - started, 2)
    return worker.run(partial(_validated, job_id, counts, rejected, samples, seconds))


def _validation_start(job_id: int) -> ImportJob:
    with transaction.atomic():
        job = _lock(job_id)
        if job.status in (JobStatus.UPLOADED, JobStatus.VALIDATING):
            job.status = JobStatus.VALIDATING
            job.save(update_fields=["status"])
    return job


def _validated(
    job_id: int, counts: dict, rejected: list, samples: list, seconds: float
) -> ImportJob:
    with transaction.atomic():
        job = _lock(job_id)
        if job.status != JobStatus.VALIDATING:
            return job  # a duplicate delivery got there first, or the job was cancelled
        job.row_errors.all().delete()
        ImportRowError.objects.bulk_create(
            [
                ImportRowError(job=job, row=r, key=str(k)[:100], reason=reason[:200], raw=raw)
                for r, k, reason, raw in rejected
            ],
            batch_size=1000,
        )
        job.total_rows = counts["total"]
        job.rejected_count = len(rejected)
        job.preview = {
            **job.preview,
            "created": counts["created"],
            "updated": counts["updated"],
            "unchanged": counts["unchanged"],
            "rejected": len(rejected),
            "samples": samples,
            "seconds": seconds,
        }
        if counts["total"] == 0:
            job.status, job.error = JobStatus.FAILED, "The file has a header but no data rows."
        else:
            job.status = JobStatus.READY
        job.save(update_fields=["total_rows", "rejected_count", "preview", "status", "error"])
        record(
            actor=None,
            action="import.job.validated",
            target=job,
            job_id=job.pk,
            changes={k: job.preview[k] for k in ("created", "updated", "unchanged", "rejected")}
            if job.status == JobStatus.READY
            else {},
            message=job.error,
        )
    return job
