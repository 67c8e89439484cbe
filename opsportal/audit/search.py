"""Global search provider (``opsportal.search``): audit targets ("who changed STRIPE_KEY?").

The newest events whose target matches (``UPPER(target_repr)`` trigram index on PostgreSQL,
migration 0004), one row per target, each linking to the audit log filtered by it.
"""

from urllib.parse import urlencode

from django.urls import reverse

from opsportal.search import Hit, Provider, Query

from .models import AuditEvent

SCAN = 40  # rows read to find up to `limit` distinct targets


def _log_url(target: str) -> str:
    return f"{reverse('audit:event_list')}?{urlencode({'target': target})}"


def _targets(query: Query, limit: int) -> list[Hit]:
    if not query.substring_ok:
        return []
    rows = (
        AuditEvent.objects.filter(target_repr__icontains=query.text)
        .order_by("-seq")
        .only("seq", "target_type", "target_repr", "action", "at", "redactions")[:SCAN]
    )
    hits, seen = [], set()
    from opsportal.templatetags.portal_format import stamp

    for event in rows:
        # a redacted target is not found by what it said (the note is all pages show)
        if event.is_redacted("target_repr") or event.target_repr in seen:
            continue
        target_type, target_repr, action, at = (
            event.target_type,
            event.target_repr,
            event.action,
            event.at,
        )
        seen.add(target_repr)
        detail = f"{target_type} · last: {action} {stamp(at)}" if target_type else action
        hits.append(Hit(target_repr, _log_url(target_repr), detail))
        if len(hits) == limit:
            break
    return hits


def _more(query: Query) -> str:
    return _log_url(query.text)


PROVIDERS = [
    Provider("audit", "Audit targets", _targets, "audit.view_auditevent", order=80, more_url=_more),
]
