"""Delete the stored files of import jobs over for more than IMPORT_FILE_RETENTION_DAYS."""

from django.conf import settings
from django.core.management.base import BaseCommand

from imports import services
from imports.services.retention import purgeable
from opsportal.audit.middleware import request_context


class Command(BaseCommand):
    help = (
        "Delete the stored files of completed, failed, cancelled and rolled-back import jobs "
        "older than IMPORT_FILE_RETENTION_DAYS (each deletion audited as "
        "import.job.file_purged). Also runs daily on django-q2."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="override IMPORT_FILE_RETENTION_DAYS"
        )
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args, days, dry_run, **opts):
        days = settings.IMPORT_FILE_RETENTION_DAYS if days is None else days
        if days <= 0:
            self.stdout.write("retention is off (0 days): every file is kept")
            return
        if dry_run:
            ids = list(purgeable(days=days).values_list("pk", flat=True))
            self.stdout.write(f"would delete the files of {len(ids)} job(s): {ids}")
            return
        with request_context(user_agent="manage.py import_files_purge"):
            ids = services.job_files_purge(actor=None, days=days)
        self.stdout.write(f"deleted the files of {len(ids)} job(s) over {days} days: {ids}")
