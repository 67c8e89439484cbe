"""Resume an interrupted import (or rollback) from its checkpoint, in this process."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports import services
from imports.choices import JobStatus
from imports.models import ImportJob


class Command(BaseCommand):
    help = "Resume an interrupted import job from its checkpoint."

    def add_arguments(self, parser):
        parser.add_argument("job", type=int)

    def handle(self, *args, **opts):
        job = ImportJob.objects.filter(pk=opts["job"]).first()
        if job is None:
            raise CommandError(f"No import job #{opts['job']}.")
        try:
            job = services.job_resume(actor=None, job=job, enqueue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if job.status == JobStatus.ROLLING_BACK:
            job = services.job_rollback_run(job_id=job.pk)
        else:
            job = services.job_apply(job_id=job.pk)
        self.stdout.write(f"job #{job.pk} {job.status}: {services.job_figures(job)}")
