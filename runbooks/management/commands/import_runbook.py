import json
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from environments.models import Project
from opsportal.audit.masking import scrub_text
from opsportal.audit.middleware import request_context
from runbooks import preview as previews
from runbooks.models import Runbook
from runbooks.plans import PlanParseError, decode
from runbooks.services import runbook_import


class Command(BaseCommand):
    help = (
        "Import a Markdown plan as a runbook version. Prints the preview first: the parsed tree, "
        "counts (phases, steps, checkboxes found vs steps made, commands, checks, second "
        "sign-off markers), warnings and, with --runbook, the changes against its latest "
        "version. --dry-run stops there; --json prints it as JSON."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--project", help="Project slug the runbook belongs to.")
        parser.add_argument(
            "--runbook",
            type=int,
            help="Id of the runbook this file is a new version of (the preview shows the diff "
            "against its latest version).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Preview only; write nothing.")
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print the parsed plan with counts, warnings, errors and diff as JSON.",
        )
        parser.add_argument("--user", default="admin", help="Importing user (default: admin).")

    def handle(self, *args, path, project, runbook, dry_run, json: bool, user, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"{path}: no such file.")
        target = None
        if runbook is not None:
            target = Runbook.objects.filter(pk=runbook).first()
            if target is None:
                raise CommandError(f"No runbook with id {runbook}.")
        try:
            # Masked before anything else sees it: what is previewed is what is stored.
            text = scrub_text(decode(file.read_bytes()))
            preview = previews.build(text, source_name=file.name, runbook=target, masked=True)
        except PlanParseError as exc:
            raise CommandError(f"{path}: {exc}") from None
        if json:
            data = preview.to_dict()
            extra = {k: data[k] for k in ("source_name", "counts", "warnings", "errors", "diff")}
            self.stdout.write(_dumps({**preview.plan, **extra}))
        else:
            self.stdout.write("\n".join(describe(preview)))
        if preview.errors:
            raise CommandError("; ".join(preview.errors))
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
                    actor=actor, text=text, source_name=file.name, project=proj, runbook=target
                )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(f"Imported {version} ({version.runbook.get_absolute_url()})")


def describe(preview: previews.Preview) -> list[str]:
    """The preview as text: summary, counts, warnings, diff, then the tree."""
    c = preview.counts
    groups = f" in {c['phase_groups']} groups" if c["phase_groups"] else ""
    out = [
        f"{preview.title}: {c['phases']} phases, {c['steps']} steps, "
        f"{c['rollback_sections']} rollback sections, {c['notes']} notes",
        f"  phases {c['phases']}{groups}; steps {c['steps']} ({c['sub_steps']} sub-steps); "
        f"checkboxes in the file {c['checkboxes_found']} -> checkbox steps "
        f"{c['checkbox_steps']} ({c['checked']} ticked); commands {c['commands']}; "
        f"automated checks {c['checks']}; second sign-off marked {c['second_signoff']}",
    ]
    for e in preview.errors:
        out.append(f"error: {e}")
    for w in preview.warnings:
        out.append(f"warning: {w}")
    d = preview.diff
    if d is not None:
        out.append("")
        if d["unchanged"]:
            out.append(f"No phase or step changes against v{d['base']}.")
        else:
            out.append(f"Changes against v{d['base']}:")
        out += [f"  + phase {t}" for t in d["phases_added"]]
        out += [f"  - phase {t}" for t in d["phases_removed"]]
        out += [f"  ~ phase {t} (description or group)" for t in d["phases_changed"]]
        out += [f"  + step {s['title']} (in {s['phase']})" for s in d["steps_added"]]
        out += [f"  - step {s['title']} (from {s['phase']})" for s in d["steps_removed"]]
        out += [
            f"  ~ step {s['title']} (in {s['phase']}: {', '.join(s['fields'])})"
            for s in d["steps_changed"]
        ]
        out += [
            f"  > step {s['title']} (moved from {s['from']} to {s['to']})" for s in d["steps_moved"]
        ]
        if d["text"]:
            out += ["", "Source diff:", *d["text"]]
    out += ["", *previews.tree_text(preview)]
    return out


def _dumps(data) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str)
