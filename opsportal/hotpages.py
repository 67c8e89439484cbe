"""The pages people live in, with real ids from the database.

One list for the page benchmark (bench/pages_bench.py) and the query-budget test
(tests/core/test_page_queries.py), so the pages measured are the pages whose query counts
are held to the budget. The ground floor lists its own pages (dashboard, audit, search); each
app adds its own through ``<app>/hotpages.py`` (``pages() -> [(label, url), ...]``).
"""

from urllib.parse import urlencode

from django.urls import reverse

from opsportal.apphooks import app_hooks
from opsportal.audit.models import AuditEvent

# No page may run more SQL queries than this, whatever the size of the database.
QUERY_BUDGET = 20


def _audit_pages(audit: str) -> list[tuple[str, str]]:
    """The audit log filtered the ways people ask "who changed prod", and single events."""
    pages = []
    operator = (
        AuditEvent.objects.exclude(actor=None)
        .order_by("-seq")
        .values_list("actor__username", flat=True)
        .first()
    )
    if operator:
        pages.append(("audit by operator", f"{audit}?{urlencode({'operator': operator})}"))
        pages.append(("operator timeline", reverse("audit:operator_timeline", args=[operator])))
        query = urlencode({"operator": operator, "tier": "production"})
        pages.append(("audit operator in prod", f"{audit}?{query}"))
    pages.append(("audit production tier", f"{audit}?tier=production"))
    target = (
        AuditEvent.objects.exclude(target_repr="")
        .order_by("-seq")
        .values_list("target_repr", flat=True)
        .first()
    )
    if target:
        # "who changed STRIPE_SECRET_KEY?"
        pages.append(("audit by target", f"{audit}?{urlencode({'target': target})}"))
    first = AuditEvent.objects.order_by("seq").values_list("at", "seq").first()
    last = AuditEvent.objects.order_by("-seq").values_list("at", "seq").first()
    if first and last:
        # a month in the middle of the history: "who changed prod in March"
        middle = first[0] + (last[0] - first[0]) / 2
        query = {"date_from": middle.date().isoformat(), "date_to": middle.date().isoformat()}
        pages.append(("audit date range", f"{audit}?{urlencode(query)}"))
        pages.append(("audit deep page", f"{audit}?before={first[1] + 1000}"))
        pages.append(("audit event", reverse("audit:event_detail", args=[last[1]])))
    # a change a request applied (its page links requester, approver and request) and the
    # other events of one request
    applied = (
        AuditEvent.objects.filter(action="configvar.updated")
        .order_by("-seq")
        .values_list("seq", flat=True)
        .first()
    )
    if applied:
        pages.append(("audit event of a change", reverse("audit:event_detail", args=[applied])))
    request_id = (
        AuditEvent.objects.exclude(request_id="")
        .order_by("-seq")
        .values_list("request_id", flat=True)
        .first()
    )
    if request_id:
        pages.append(("audit by request", f"{audit}?{urlencode({'request': request_id})}"))
    return pages


def hot_pages() -> list[tuple[str, str]]:
    """``(label, url)`` for every page in the budget, skipping those with nothing to show."""
    audit = reverse("audit:event_list")
    pages = [("dashboard", reverse("dashboard")), ("audit log", audit)]
    pages += _audit_pages(audit)
    # global search: a word most groups match (targets, keys, environments)
    pages.append(("search", f"{reverse('search')}?{urlencode({'q': 'prod'})}"))
    for module in app_hooks("hotpages"):
        pages += module.pages()
    return pages
