import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from environments import services
from environments.models import ChangeRequest
from opsportal.audit.middleware import request_context

from ._common import error_text, user_named


def _as_dict(cr: ChangeRequest, full: bool = False) -> dict:
    data = {
        "id": cr.pk,
        "environment": str(cr.environment),
        "tier": cr.environment.tier,
        "kind": cr.kind,
        "status": cr.status,
        "summary": cr.summary,
        "author": cr.author.get_username(),
        "created_at": cr.created_at.isoformat(),
        "decided_by": cr.decided_by.get_username() if cr.decided_by else None,
        "reason": cr.reason,
        "decision_reason": cr.decision_reason,
    }
    if full:
        data["changes"] = [services.public_change(op) for op in cr.payload.get("vars", [])]
        data["settings"] = cr.payload.get("settings", {})
        data["deployments"] = cr.payload.get("deployments", [])
    return data


class Command(BaseCommand):
    help = "List, show, approve or reject change requests to protected environments."

    def add_arguments(self, parser):
        parser.add_argument("verb", choices=["list", "show", "approve", "reject", "withdraw"])
        parser.add_argument("id", nargs="?", type=int)
        parser.add_argument("--as", dest="username", required=True)
        parser.add_argument("--reason", default="")
        parser.add_argument("--all", action="store_true", help="list decided requests too")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        actor = user_named(opts["username"])
        verb = opts["verb"]
        if verb == "list":
            qs = ChangeRequest.objects.select_related(
                "environment__project", "author", "decided_by"
            )
            if not opts["all"]:
                qs = qs.pending()
            items = [_as_dict(cr) for cr in qs[:200]]
            if opts["json"]:
                self.stdout.write(json.dumps(items, indent=2))
            else:
                for i in items:
                    self.stdout.write(
                        f"#{i['id']:<5} {i['status']:9} {i['environment']:30} "
                        f"{i['author']:12} {i['summary']}"
                    )
            return
        if opts["id"] is None:
            raise CommandError(f"{verb} needs a change request id")
        cr = (
            ChangeRequest.objects.select_related("environment__project", "author")
            .filter(pk=opts["id"])
            .first()
        )
        if cr is None:
            raise CommandError(f"No change request #{opts['id']}.")
        with request_context(user_agent=f"manage.py change_request {verb}"):
            try:
                if verb == "approve":
                    cr = services.changerequest_approve(
                        actor=actor, change_request=cr, reason=opts["reason"]
                    )
                elif verb == "reject":
                    cr = services.changerequest_reject(
                        actor=actor, change_request=cr, reason=opts["reason"]
                    )
                elif verb == "withdraw":
                    cr = services.changerequest_withdraw(
                        actor=actor, change_request=cr, reason=opts["reason"]
                    )
            except (ValidationError, PermissionDenied) as exc:
                raise CommandError(error_text(exc)) from None
        data = _as_dict(cr, full=True)
        if opts["json"]:
            self.stdout.write(json.dumps(data, indent=2))
        else:
            self.stdout.write(
                f"#{cr.pk} {cr.get_status_display()}: {cr.summary} ({cr.environment})"
            )
            for c in data["changes"]:
                note = " (fingerprint changed)" if c.get("fingerprint_changed") else ""
                self.stdout.write(f"  {c['op']:7} {c['key']}{note}")
