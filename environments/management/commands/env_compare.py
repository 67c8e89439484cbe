import json

from django.core.management.base import BaseCommand, CommandError

from environments import drift

from ._common import project_named


class Command(BaseCommand):
    help = "Promotion checklist: what to set, change or remove in --to so it matches --from."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="project name or slug")
        parser.add_argument("--from", dest="source", required=True, help="source environment")
        parser.add_argument("--to", dest="target", required=True, help="target environment")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        project = project_named(opts["project"])
        envs = {e.name.lower(): e for e in drift.project_environments(project)}
        try:
            source, target = envs[opts["source"].lower()], envs[opts["target"].lower()]
        except KeyError as exc:
            raise CommandError(
                f"{project.name} has no environment {exc.args[0]!r} "
                f"(it has: {', '.join(sorted(envs))})"
            ) from None
        items = drift.promotion_checklist(source, target)
        if opts["json"]:
            data = {
                "project": project.name,
                "from": source.name,
                "to": target.name,
                "items": [vars(i) for i in items],
                "key_drift": drift.key_drift(source, target),
            }
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(drift.checklist_markdown(source, target, items))
