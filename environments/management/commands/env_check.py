import json

from django.core.management.base import BaseCommand, CommandError

from environments.hygiene import check_project

from ._common import project_named


class Command(BaseCommand):
    help = "Check a project's variables for hygiene problems and drift; exits 1 on errors."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name or slug")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = project_named(opts["project"])
        findings = check_project(project)
        errors = [f for f in findings if f.severity == "error"]
        if opts["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "project": project.name,
                        "errors": len(errors),
                        "warnings": sum(f.severity == "warning" for f in findings),
                        "findings": [f.as_dict() for f in findings],
                    },
                    indent=2,
                )
            )
        else:
            for f in findings:
                self.stdout.write(
                    f"{f.severity.upper():8} {f.environment:12} {f.rule:38} {f.message}"
                )
            self.stdout.write(
                f"{project.name}: {len(errors)} errors, "
                f"{len(findings) - len(errors)} other findings"
            )
        if errors:
            raise CommandError(f"{len(errors)} hygiene errors in {project.name}", returncode=1)
