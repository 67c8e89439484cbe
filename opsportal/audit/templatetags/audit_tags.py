"""``{% load audit_tags %}{% audit_history obj %}``: an object's recent events on its own page."""

from urllib.parse import quote

from django import template
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from opsportal.templatetags.portal_format import when

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


# what reverse() leaves unquoted in a path argument (django.urls.resolvers)
URL_SAFE = "!$&'()*+,;=/~:@"


def _truncated(value, length: int = 60) -> str:
    return Truncator(value).chars(length) if value not in (None, "") else ""


@register.simple_tag
def event_rows(events):
    """The rows of ``includes/event_table.html``, built in Python: the table is on the audit log,
    every history page, the dashboard and the environment and change-request pages, and the
    template engine's per-cell work was most of those pages' time. The markup is the same as a
    template's would be; every value is escaped by ``format_html``."""
    rows = []
    event_prefix = reverse("audit:event_detail", args=[0]).removesuffix("0/")
    operator_prefix = reverse("audit:operator_timeline", args=["x"]).removesuffix("x/")
    for e in events:
        shown = e.shown
        actor_label = shown["actor_label"]
        if e.actor_id is not None and e.actor is not None:
            operator = format_html(
                '<a href="{}{}/">{}</a>',
                operator_prefix,
                quote(e.actor.get_username(), safe=URL_SAFE),
                actor_label,
            )
        else:
            operator = conditional_escape(actor_label)
        requester = e.requester
        action = format_html(
            "<code>{}</code>{}",
            e.action,
            format_html('<div class="small text-body-secondary">requested by {}</div>', requester)
            if requester
            else "",
        )
        target_url = e.target_url
        if target_url:
            target = format_html(
                '<a href="{}">{}</a>',
                target_url,
                _truncated(shown["target_repr"] or e.target_id),
            )
        else:
            target = conditional_escape(_truncated(shown["target_repr"]))
        tier = (
            format_html('<span class="badge tier-{}">{}</span>', e.tier, e.get_tier_display())
            if e.tier
            else ""
        )
        rows.append(
            format_html(
                '<tr>\n    <td><a href="{}{}/">{}</a></td>\n'
                '    <td class="text-nowrap">{}</td>\n'
                "    <td>{}</td>\n    <td>{}</td>\n    <td>{}</td>\n    <td>{}</td>\n"
                '    <td class="small">{}</td>\n  </tr>',
                event_prefix,
                e.seq,
                e.seq,
                when(e.at),
                operator,
                action,
                target,
                tier,
                _truncated(shown["message"]),
            )
        )
    if not rows:
        return mark_safe('<tr><td colspan="7" class="text-body-secondary">No events.</td></tr>')
    return mark_safe("\n  ".join(rows))  # noqa: S308 (each row built by format_html)
