"""Demo data: a small completed Sejoli import (users and orders), through the services."""

from pathlib import Path

from .choices import JobStatus
from .models import ImportJob

DATA = Path(__file__).resolve().parent / "demo_data"


def load(*, users: dict, stdout) -> None:
    from . import services

    operator = users.get("operator")
    for name in ("products.csv", "users.csv", "orders.csv", "commissions.csv", "subscriptions.csv"):
        data = (DATA / name).read_bytes()
        if ImportJob.objects.filter(original_name=name, status=JobStatus.COMPLETED).exists():
            continue
        job = services.job_create(actor=operator, data=data, name=name, validate="now")
        services.job_confirm(actor=operator, job=job, enqueue=False)
        job = services.job_apply(job_id=job.pk)
        stdout.write(f"imports: {name} → job #{job.pk} {job.status}, {job.created_count} created")
