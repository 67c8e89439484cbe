"""``{% load audit_tags %}{% audit_history obj %}``: an object's recent events on its own page."""

from django import template

from ..links import history_url
from ..models import AuditEvent
from ..services import attach_redaction_notes

register = template.Library()

HISTORY_SHOWN = 10


@register.inclusion_tag("audit/_history.html", takes_context=True)
def audit_history(context, obj, limit: int = HISTORY_SHOWN):
    """The latest events of ``obj`` (``AuditEvent.objects.for_target``) and a link to all of
    them; nothing for someone who may not read the audit trail. One query, two for objects
    whose history spans others (a runbook's versions)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if obj is None or user is None or not user.has_perm("audit.view_auditevent"):
        return {"allowed": False}
    events = list(AuditEvent.objects.for_target(obj).select_related("actor")[: limit + 1])
    attach_redaction_notes(events[:limit])
    return {
        "allowed": True,
        "events": events[:limit],
        "more": len(events) > limit,
        "history_url": history_url(obj),
        "obj": obj,
    }
