"""Audit events over the JSON API (docs/api.md): the audit log's filters, paginated by cursor on
``seq``. Events are shown as the pages show them: redacted fields as their notes, changes
already scrubbed by ``record()``."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.http import Http404
from ninja import Field, Query, Router, Schema

from opsportal.accounts.permissions import require
from opsportal.api.pagination import cursor_page, page_of

from .forms import AuditFilterForm
from .models import AuditEvent
from .services import attach_redaction_notes

router = Router(tags=["audit"])

PERMISSION = "audit.view_auditevent"


class AuditEventOut(Schema):
    seq: int
    at: datetime
    actor: str | None = Field(description="The user's name (None: the system)")
    actor_label: str = Field(description="As recorded: 'alice', 'ci via token 7 (deploy)'")
    action: str
    target_type: str
    target_id: str
    target: str
    environment: str | None = Field(description="<project-slug>/<environment-name>")
    tier: str
    changes: dict | list
    message: str
    request_id: str
    hash: str


def event_out(event: AuditEvent) -> dict:
    shown = event.shown
    env = event.environment if event.environment_id else None
    return {
        "seq": event.seq,
        "at": event.at,
        "actor": event.actor.get_username() if event.actor_id and event.actor else None,
        "actor_label": shown["actor_label"],
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target": shown["target_repr"],
        "environment": f"{env.project.slug}/{env.name}" if env is not None else None,
        "tier": event.tier,
        "changes": event.shown_changes,
        "message": shown["message"],
        "request_id": event.request_id,
        "hash": event.hash,
    }


@router.get("/audit/events", response=page_of(AuditEventOut), summary="Audit events, newest first")
def audit_event_list(
    request,
    operator: str | None = None,
    action: str | None = Query(None, description="Prefix, e.g. configvar. or api.token"),
    tier: str | None = None,
    target: str | None = Query(None, description="Type (environments.configvar) or name"),
    environment: str | None = Query(None, description="<project-slug>/<environment-name>"),
    project: str | None = Query(None, description="A project's slug: its environments' events"),
    date_from: date | None = None,
    date_to: date | None = None,
    cursor: str | None = None,
    limit: int = 50,
):
    """The audit log's filters (operator, action prefix, tier, target, whole days) plus an
    environment or a project."""
    require(request.user, PERMISSION, action="view the audit log")
    params = {
        k: v
        for k, v in {
            "operator": operator,
            "action": action,
            "tier": tier,
            "target": target,
            "date_from": date_from,
            "date_to": date_to,
        }.items()
        if v not in (None, "")
    }
    qs = AuditEvent.objects.select_related("actor", "environment__project")
    if params:
        form = AuditFilterForm(params)
        if not form.is_valid():
            raise ValidationError(form.errors.as_data())
        qs = form.filter(qs)
    if environment:
        slug, _sep, name = environment.partition("/")
        if not name:
            raise ValidationError({"environment": "Give <project-slug>/<environment-name>."})
        qs = qs.filter(environment__project__slug=slug, environment__name__iexact=name)
    if project:
        qs = qs.filter(environment__project__slug=project)
    page = cursor_page(qs, cursor=cursor, limit=limit, key="seq")
    attach_redaction_notes(page["items"])
    page["items"] = [event_out(e) for e in page["items"]]
    return page


@router.get("/audit/events/{seq}", response=AuditEventOut, summary="One audit event")
def audit_event_detail(request, seq: int):
    require(request.user, PERMISSION, action="view the audit log")
    event = AuditEvent.objects.select_related("actor", "environment__project").filter(seq=seq)
    event = event.first()
    if event is None:
        raise Http404(f"No audit event #{seq}.")
    attach_redaction_notes([event])
    return event_out(event)
