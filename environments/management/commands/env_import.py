import json
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q

from environments import parsers, services
from environments.choices import Tier
from environments.importing import vercel_target
from environments.models import Project
from opsportal.audit.middleware import request_context

from ._common import error_text, user_named


class Command(BaseCommand):
    help = (
        "Import variables into an environment from a .env, `npx convex env list`, "
        "`vercel env pull`, Doppler or Infisical download, Vercel or Render API JSON, a compose "
        "environment block or the team's Markdown table (the shape is recognised). "
        "Protected environments get a change request."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="path to the file, or - for standard input")
        parser.add_argument("--project", required=True, help="project name or slug")
        parser.add_argument("--environment", required=True, help="environment name")
        parser.add_argument("--as", dest="username", required=True, help="acting user")
        parser.add_argument("--tier", choices=Tier.values, help="tier of a new environment")
        parser.add_argument(
            "--format",
            default="auto",
            choices=parsers.FORMATS,
            help="override the recognised shape",
        )
        parser.add_argument(
            "--keep-tool-vars",
            action="store_true",
            help="keep tool bookkeeping (VERCEL_ENV, TURBO_*, DOPPLER_CONFIG ...)",
        )
        parser.add_argument(
            "--remove-missing", action="store_true", help="delete keys not in the file"
        )
        parser.add_argument("--secret", action="append", default=[], help="treat KEY as secret")
        parser.add_argument("--public", action="append", default=[], help="treat KEY as not secret")
        parser.add_argument("--reason", default="")
        parser.add_argument(
            "--dry-run", action="store_true", help="show the preview, change nothing"
        )
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def handle(self, *args, **opts):
        actor = user_named(opts["username"])
        path = opts["file"]
        try:
            if path == "-":
                import sys

                data = sys.stdin.buffer.read(parsers.MAX_BYTES + 1)
            else:
                p = Path(path)
                if not p.is_file():
                    raise CommandError(f"{path}: no such file")
                with p.open("rb") as fh:
                    data = fh.read(parsers.MAX_BYTES + 1)
            text = parsers.decode(data)
            # Validate before creating anything: bad input leaves no project or environment.
            parsers.read(
                text,
                opts["format"],
                path,
                keep_tool_vars=opts["keep_tool_vars"],
                target=vercel_target(self._existing_or_new(opts)),
            )
        except parsers.ParseError as exc:
            raise CommandError(f"{path}: {exc}") from None

        with request_context(user_agent="manage.py env_import"), transaction.atomic():
            try:
                project, environment, created = self._target(actor, opts)
                if environment is None:
                    # A dry run against an environment that does not exist yet: compare to nothing.
                    from environments.models import Environment

                    environment = Environment(
                        project=project or Project(),
                        name=opts["environment"],
                        tier=opts["tier"] or services.tier_from_name(opts["environment"]),
                    )
                plan = services.import_plan(
                    environment=environment,
                    text=text,
                    fmt=opts["format"],
                    filename=path,
                    remove_missing=opts["remove_missing"],
                    secret_keys=opts["secret"],
                    public_keys=opts["public"],
                    keep_tool_vars=opts["keep_tool_vars"],
                )
                result = None
                if not opts["dry_run"] and plan.has_changes:
                    result = services.env_import_apply(
                        actor=actor, environment=environment, plan=plan, reason=opts["reason"]
                    )
            except (ValidationError, PermissionDenied) as exc:
                raise CommandError(f"{path}: {error_text(exc)}") from None
        self._report(plan, result, opts, environment, created)

    def _existing_or_new(self, opts):
        """The target environment, or an unsaved one with the tier it would be created with."""
        from environments.models import Environment

        name, env_name = opts["project"], opts["environment"]
        existing = Environment.objects.filter(
            Q(project__name__iexact=name) | Q(project__slug=name), name__iexact=env_name
        ).first()
        return existing or Environment(
            name=env_name, tier=opts["tier"] or services.tier_from_name(env_name)
        )

    def _target(self, actor, opts):
        """Find the project and environment; create them unless this is a dry run."""
        name = opts["project"]
        project = Project.objects.filter(Q(name__iexact=name) | Q(slug=name)).first()
        created = []
        if project is None:
            if opts["dry_run"]:
                return None, None, ["project", "environment"]
            project = services.project_create(actor=actor, name=name)
            created.append("project")
        environment = project.environments.filter(name__iexact=opts["environment"]).first()
        if environment is None:
            if opts["dry_run"]:
                return project, None, [*created, "environment"]
            environment = services.environment_create(
                actor=actor,
                project=project,
                name=opts["environment"],
                tier=opts["tier"] or services.tier_from_name(opts["environment"]),
            )
            created.append("environment")
        return project, environment, created

    def _report(self, plan, result, opts, environment, created):
        data = plan.as_dict()
        data["environment"] = (
            str(environment)
            if environment.pk
            else f"{opts['project']} / {opts['environment']} (new)"
        )
        data["dry_run"] = opts["dry_run"]
        data["created"] = created
        data["applied"] = bool(result and result.applied)
        data["change_request"] = (
            result.change_request.pk if result and result.change_request else None
        )
        if opts["json"]:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True))
            return
        w = self.stdout.write
        for what in created:
            w(f"created {what}")
        w(f"read as: {plan.read_as}")
        for item in plan.warnings:
            w(f"  ! line {item['line']}: {item['message']}")
        for item in plan.skipped:
            w(f"  skipped {item['key']} (line {item['line']}): {item['reason']}")
        w(
            f"{data['environment']}: {len(plan.added)} added, {len(plan.changed)} changed, "
            f"{len(plan.removed)} {'removed' if plan.remove_missing else 'not in file'}, "
            f"{len(plan.unchanged)} unchanged"
        )
        for item in plan.added:
            after = item["after"]
            note = "  (secret)" if after["is_secret"] else ""
            if after.get("value_kind") == "reference":
                note = f"  (reference to {after.get('detail')})"
            if after.get("forced"):
                note = f"  (secret although asked public — {after['forced']})"
            w(f"  + {item['key']}{note}")
        for item in plan.changed:
            note = "fingerprint changed" if item.get("fingerprint_changed") else "changed"
            if (item.get("after") or {}).get("forced"):
                note += f"; secret although asked public — {item['after']['forced']}"
            w(f"  ~ {item['key']}  ({note})")
        for item in plan.removed:
            w(
                f"  - {item['key']}"
                if plan.remove_missing
                else f"  = {item['key']}  (not in file, kept)"
            )
        if opts["dry_run"]:
            w("dry run: nothing changed")
        elif result is None:
            w("nothing to change")
        elif result.change_request is not None:
            w(f"change request #{result.change_request.pk} created: it needs another approver")
        else:
            w("applied")
