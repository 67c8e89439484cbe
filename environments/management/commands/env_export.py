import csv
import io

from django.core.management.base import BaseCommand

from environments import exporting
from opsportal.exports import escape_row

from ._common import project_named


class Command(BaseCommand):
    help = "Export a project's inventory: .env.example, Markdown or CSV (never a secret's value)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name or slug")
        parser.add_argument("--format", choices=["env-example", "md", "csv"], default="md")

    def handle(self, *args, **opts):
        project = project_named(opts["project"])
        if opts["format"] == "env-example":
            self.stdout.write(exporting.env_example(project), ending="")
        elif opts["format"] == "md":
            self.stdout.write(exporting.inventory_markdown(project), ending="")
        else:
            header, rows = exporting.inventory_rows(project)
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            for row in [header, *rows]:
                writer.writerow(escape_row(row))
            self.stdout.write(buffer.getvalue(), ending="")
