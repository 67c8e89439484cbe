"""The pages people live in, with real ids from the database.

One list for the page benchmark (bench/pages_bench.py) and the query-budget test
(tests/core/test_page_queries.py), so the pages measured are the pages whose query counts
are held to the budget.
"""

from urllib.parse import urlencode

from django.db.models import Count
from django.urls import reverse

from environments.models import ChangeRequest, ConfigVar, Environment, Project
from imports.models import ImportJob, Member, SampleVerification
from opsportal.audit.links import history_url
from opsportal.audit.models import AuditEvent
from runbooks.models import Run, Runbook

# No page may run more SQL queries than this, whatever the size of the database.
QUERY_BUDGET = 20


def _largest_run():
    """The heaviest run page: the longest run still in progress (open steps carry forms)."""
    runs = Run.objects.annotate(steps=Count("step_runs")).order_by("-steps", "-pk")
    return runs.in_progress().first() or runs.first()


def _audit_reading_pages(audit: str) -> list[tuple[str, str]]:
    """The "who changed prod" pages: a change a request applied, the other events of its
    request, and the history of a variable, a runbook and a member."""
    pages = []
    applied = (
        AuditEvent.objects.filter(action="configvar.updated")
        .order_by("-seq")
        .values_list("seq", "request_id")
        .first()
    )
    if applied:
        pages.append(("audit event of a change", reverse("audit:event_detail", args=[applied[0]])))
    request_id = (
        AuditEvent.objects.exclude(request_id="")
        .order_by("-seq")
        .values_list("request_id", flat=True)
        .first()
    )
    if request_id:
        pages.append(("audit by request", f"{audit}?{urlencode({'request': request_id})}"))
    var = ConfigVar.objects.order_by("-pk").first()
    if var:
        pages.append(("variable page", var.get_absolute_url()))
        pages.append(("variable history", history_url(var)))
    runbook = Runbook.objects.order_by("-pk").first()
    if runbook:
        version = runbook.latest_version()
        if version:  # the runbook's page: its latest version, with the history beside it
            pages.append(("runbook version", version.get_absolute_url()))
        pages.append(("runbook history", history_url(runbook)))
    member = Member.objects.order_by("-pk").first()
    if member:
        pages.append(("member history", history_url(member)))
    return pages


def hot_pages() -> list[tuple[str, str]]:
    """``(label, url)`` for every page in the budget, skipping those with nothing to show."""
    pages = [("dashboard", reverse("dashboard")), ("audit log", reverse("audit:event_list"))]
    # "waiting for me" and the count every page's navigation fetches
    pages.append(("waiting for me", reverse("notifications:waiting")))
    pages.append(("waiting count", reverse("notifications:waiting_count")))
    pages.append(("waiting panel", reverse("notifications:waiting_panel")))
    audit = reverse("audit:event_list")
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
    pages += _audit_reading_pages(audit)
    pages.append(("projects", reverse("environments:project_list")))
    project = Project.objects.order_by("pk").first()
    if project:
        pages.append(("environment matrix", project.get_absolute_url()))
    environment = Environment.objects.order_by("-tier", "pk").first()
    if environment:
        pages.append(("environment detail", environment.get_absolute_url()))
    pages.append(("change requests", reverse("environments:changerequest_list")))
    change_request = ChangeRequest.objects.order_by("-pk").first()
    if change_request:
        pages.append(("change request", change_request.get_absolute_url()))
    pages.append(("runbooks", reverse("runbooks:runbook_list")))
    # the operations calendar: every app's calendar hook, the month grid and the list
    calendar = reverse("operations:calendar")
    pages.append(("calendar", calendar))
    pages.append(("calendar list", f"{calendar}?view=list"))
    pages.append(("recurring runs panel", reverse("operations:due_panel")))
    run = _largest_run()
    if run:
        pages.append(("runbook run", run.get_absolute_url()))
    pages.append(("import jobs", reverse("imports:job_list")))
    job = ImportJob.objects.order_by("-total_rows", "-pk").first()
    if job:
        pages.append(("import job", job.get_absolute_url()))
    pages.append(("members", reverse("imports:member_list")))
    member = Member.objects.exclude(email=None).order_by("-pk").values_list("email", flat=True)
    if member.first():
        pages.append(("member search", f"{reverse('imports:member_list')}?q={member.first()}"))
    # global search: a word most groups match (targets, keys, environments), then a member
    pages.append(("search", f"{reverse('search')}?{urlencode({'q': 'prod'})}"))
    if member.first():
        pages.append(("search member", f"{reverse('search')}?{urlencode({'q': member.first()})}"))
    pages.append(("orders", reverse("imports:order_list")))
    pages.append(("review queue", reverse("imports:review_list")))
    # sample verification: the list, the latest drawn sample and its first member
    pages.append(("sample verifications", reverse("imports:verification_list")))
    sample = SampleVerification.objects.filter(items__isnull=False).order_by("-pk").first()
    if sample:
        pages.append(("sample verification", sample.get_absolute_url()))
        pages.append(("sampled member", reverse("imports:verification_item", args=[sample.pk, 1])))
    pages.append(("deployments", reverse("deployments:ledger")))
    pages.append(("DORA figures", reverse("deployments:dora")))
    if environment:
        pages.append(
            ("environment timeline", reverse("deployments:timeline", args=[environment.pk]))
        )
    return pages
