"""Roll an import job back, in this process."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from imports import services
from imports.models import ImportJob


class Command(BaseCommand):
    help = "Roll back an import job: delete what it created, restore what it updated."

    def add_arguments(self, parser):
        parser.add_argument("job", type=int)
        parser.add_argument("--reason", default="rolled back from the command line")

    def handle(self, *args, **opts):
        job = ImportJob.objects.filter(pk=opts["job"]).first()
        if job is None:
            raise CommandError(f"No import job #{opts['job']}.")
        try:
            job = services.job_rollback(actor=None, job=job, reason=opts["reason"], enqueue=False)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        job = services.job_rollback_run(job_id=job.pk)
        self.stdout.write(
            f"job #{job.pk} {job.status}: {job.rollback_checkpoint} changes reverted, "
            f"{len(job.rollback_conflicts)} conflicts"
        )
        for c in job.rollback_conflicts:
            self.stdout.write(f"  conflict: {c['model']} #{c['pk']} {c['reason']}")
