"""Styled 403/404/500 pages, one log line per 403, the admin dressed as the portal, the dashboard's
recent activity without routine sign-ins, and the runbook list's last run."""

import io
import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from opsportal import errors
from opsportal.audit.models import AuditEvent
from runbooks import services as runbook_services
from tests.factories import EnvironmentFactory

pytestmark = pytest.mark.django_db

PLAN = "# Release\n\n## Ship\n\n- [ ] Promote the build\n"


@pytest.fixture
def console():
    """What the portal's console handler (settings.LOGGING) prints, captured."""
    handler = next(
        h for h in logging.getLogger().handlers if getattr(h, "formatter", None) and h.filters
    )
    stream = io.StringIO()
    old = handler.setStream(stream)
    yield stream
    handler.setStream(old)


def test_403_page_says_what_happened_and_where_to_go(client_for):
    client, _ = client_for("viewer")
    response = client.get(reverse("api_tokens:service"))
    assert response.status_code == 403
    body = response.content.decode()
    assert 'data-testid="error-403"' in body
    assert "You are not allowed to do this" in body
    assert "role <strong>viewer</strong>" in body
    assert reverse("dashboard") in body and "<nav" in body  # the portal's page, not a bare one


def test_a_403_is_logged_as_one_warning_line_without_traceback(user_factory, client, console):
    user = user_factory()  # no role: the audit log is refused
    client.force_login(user)
    assert client.get(reverse("audit:event_list")).status_code == 403
    lines = [line for line in console.getvalue().splitlines() if "Forbidden" in line]
    assert len(lines) == 1, console.getvalue()
    assert (
        " WARNING " in lines[0]
        and "django.request: Forbidden (Permission denied): /audit/" in lines[0]
    )
    assert "Traceback" not in console.getvalue()


def test_a_500_still_logs_its_traceback(console):
    record = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: /x", None, None
    )
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    record.status_code = 500
    assert errors.ClientErrorLogFilter().filter(record) and record.exc_info is not None


def test_404_page(client_for):
    client, _ = client_for("viewer")
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'data-testid="error-404"' in body and "/no/such/page/" in body
    assert reverse("search") in body  # where to go: search the portal


def test_500_page_renders_without_touching_the_database():
    request = RequestFactory().get("/boom/")
    request.request_id = "abc123"

    def refuse(execute, sql, params, many, context):
        raise AssertionError(f"the 500 page queried the database: {sql}")

    with connection.execute_wrapper(refuse), CaptureQueriesContext(connection) as queries:
        response = errors.server_error(request)
    assert len(queries) == 0
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body and "abc123" in body


def test_the_admin_looks_like_the_portal_and_links_back(client_for):
    client, _ = client_for("admin")
    body = client.get(reverse("admin:index")).content.decode()
    assert "css/admin.css" in body
    assert 'data-testid="admin-back-to-portal"' in body and "Back to the portal" in body


def test_the_admin_is_for_staff_only(client_for):
    client, _ = client_for("operator")
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    body = client.get(reverse("dashboard")).content.decode()
    assert reverse("admin:index") not in body  # no link to it either


def test_recent_activity_leaves_routine_sign_ins_out_unless_asked(client_for):
    client, user = client_for("admin")
    client.force_login(user)  # auth.login.succeeded recorded
    assert AuditEvent.objects.filter(action="auth.login.succeeded").exists()
    default = client.get(reverse("dashboard"))
    assert [e.action for e in default.context["recent_events"]].count("auth.login.succeeded") == 0
    assert 'data-testid="show-logins"' in default.content.decode()
    with_logins = client.get(reverse("dashboard"), {"logins": "1"})
    assert "auth.login.succeeded" in [e.action for e in with_logins.context["recent_events"]]


def test_runbook_list_shows_each_runbooks_last_run_in_one_query(client_for):
    client, operator = client_for("operator")
    env = EnvironmentFactory(name="staging", tier="staging")
    now = timezone.now()

    def runbook_with_run(title):
        plan = PLAN.replace("Release", title)
        version = runbook_services.runbook_import(actor=operator, text=plan, source_name="p.md")
        return runbook_services.run_start(
            actor=operator, version=version, environment=env,
            planned_start=now, planned_end=now + timedelta(hours=1),
        )  # fmt: skip

    run = runbook_with_run("Alpha")
    with CaptureQueriesContext(connection) as one:
        body = client.get(reverse("runbooks:runbook_list")).content.decode()
    assert f'href="{run.get_absolute_url()}">#{run.pk}</a>' in body
    assert "In progress" in body and "on staging" in body
    runbook_with_run("Beta")
    runbook_with_run("Gamma")
    runbook_services.runbook_import(
        actor=operator, text=PLAN.replace("Release", "Never"), source_name="n.md"
    )
    with CaptureQueriesContext(connection) as more:
        body = client.get(reverse("runbooks:runbook_list")).content.decode()
    assert "never run" in body
    # the first request also refreshes the session; more runbooks never mean more queries
    assert len(more) <= len(one), "\n".join(q["sql"][:200] for q in more.captured_queries)
