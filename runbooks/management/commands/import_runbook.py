import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from environments.models import Project
from opsportal.audit.middleware import request_context
from runbooks.markdown import PlanParseError, decode, parse
from runbooks.services import runbook_import


class Command(BaseCommand):
    help = "Import a Markdown plan as a runbook version (or show its structure with --dry-run)."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--project", help="Project slug the runbook belongs to.")
        parser.add_argument("--dry-run", action="store_true", help="Parse only; write nothing.")
        parser.add_argument("--json", action="store_true", help="Print the parsed structure.")
        parser.add_argument("--user", default="admin", help="Importing user (default: admin).")

    def handle(self, *args, path, project, dry_run, json: bool, user, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"{path}: no such file.")
        try:
            text = decode(file.read_bytes())
            plan = parse(text, default_title=file.stem)
        except PlanParseError as exc:
            raise CommandError(f"{path}: {exc}") from None
        if json:
            self.stdout.write(_dumps(plan.to_dict()))
        else:
            self.stdout.write(
                f"{plan.title}: {len(plan.phases)} phases, {plan.step_count} steps, "
                f"{len(plan.rollback)} rollback sections, {len(plan.notes)} notes"
            )
        if dry_run:
            return
        proj = None
        if project:
            proj = Project.objects.filter(slug=project).first()
            if proj is None:
                raise CommandError(f"No project with slug {project!r}.")
        actor = get_user_model().objects.filter(username=user).first()
        if actor is None:
            raise CommandError(f"No user {user!r}; pass --user.")
        try:
            with request_context(user_agent="manage.py import_runbook"):
                version = runbook_import(
                    actor=actor, text=text, source_name=file.name, project=proj
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"Imported {version} ({version.runbook.get_absolute_url()})")


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
