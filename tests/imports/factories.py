import json
from pathlib import Path

from django.test import TestCase

from imports import services


def committed():
    """Run the on_commit callbacks (task enqueues: inline in sync mode) at the block's end."""
    return TestCase.captureOnCommitCallbacks(execute=True)


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"
CLEAN = FIXTURES / "sejoli_id_clean_seed4"
MESSY = FIXTURES / "sejoli_en_seed7"
# What the generator says of MESSY's orders (its ground truth, not the importer's)
MESSY_ORDERS = json.loads((MESSY / "expected.json").read_text())["orders"]


def make_job(actor, path: Path, *, batch_size: int = 1000, validate: str = "now", **kw):
    return services.job_create(
        actor=actor, data=path.read_bytes(), name=path.name, batch_size=batch_size,
        validate=validate, **kw,
    )  # fmt: skip


def apply_file(actor, path: Path, *, batch_size: int = 1000):
    job = make_job(actor, path, batch_size=batch_size)
    with committed():
        services.job_confirm(actor=actor, job=job)  # sync mode in tests: applies inline
    job.refresh_from_db()
    return job
