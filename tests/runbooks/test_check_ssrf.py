"""Automated checks cannot be turned against the portal's own network (issue 14, item 1).

Each test runs a check the way an operator would (``check_request``, the worker inline) at an
origin the run allows, and asserts the target the address policy refuses was never reached.
``CHECK_ALLOWED_NETWORKS`` is set explicitly in every test: empty, or one address of a server
standing in for a public one (127.0.0.2), never the loopback server standing in for an
internal service (127.0.0.1).
"""

import json
import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django_q.models import Task

from opsportal.audit.models import AuditEvent
from runbooks import checks, services
from runbooks.choices import CheckStatus, StepStatus
from runbooks.models import Step
from tests.factories import EnvironmentFactory
from tests.netservers import (
    banner_server,
    drip,
    fake_dns,
    http_server,
    recorded_connections,
)

from .conftest import SMALL_PLAN, step_run

pytestmark = pytest.mark.django_db

SECRET = b"internal-secret-7f3a9c"


@pytest.fixture(autouse=True)
def no_allowed_networks(settings):
    settings.CHECK_ALLOWED_NETWORKS = []


@pytest.fixture
def internal():
    """An internal service on loopback: what an attacker wants the worker to read."""
    with http_server("127.0.0.1", routes={"/secret": (200, SECRET, {})}) as server:
        yield server


@pytest.fixture
def run_check(version, operator, approver, start_run, django_capture_on_commit_callbacks):
    """Configure the "Smoke test" step with a check, start a run on an environment whose URL is
    ``env_url`` (the runbook allowing ``origins`` as well), run the check, return the step run."""

    def run(check_type, config, *, env_url="", origins=()):
        if origins:
            services.runbook_update(
                actor=approver, runbook=version.runbook, allowed_urls="\n".join(origins)
            )
        step = Step.objects.get(phase__version=version, title="Smoke test")
        v = services.step_update(
            actor=operator,
            step=step,
            title="Smoke test",
            body="",
            required=True,
            requires_second_signoff=False,
            check_type=check_type,
            check_config={"timeout": 2, **config},
        )
        env = EnvironmentFactory(name=f"staging-{time.monotonic_ns()}", url=env_url)
        sr = step_run(start_run(v, env), "Smoke test")
        with django_capture_on_commit_callbacks(execute=True):
            services.check_request(actor=operator, step_run=sr)
        sr.refresh_from_db()
        return sr

    return run


def assert_refused(sr, *words):
    assert sr.check_status == CheckStatus.FAILED and sr.status == StepStatus.FAILED
    summary = sr.check_result["summary"]
    for word in words:
        assert word in summary, summary
    event = AuditEvent.objects.get(action="runbook.check.failed", target_id=str(sr.pk))
    assert event.changes["summary"] == summary
    assert SECRET.decode() not in json.dumps(sr.check_result)


def test_loopback_by_ip_is_refused(run_check, internal):
    sr = run_check("http", {"url": f"{internal.url}/secret"}, env_url=internal.url)
    assert_refused(sr, "127.0.0.1", "loopback")
    assert internal.hits == []


def test_a_name_resolving_to_loopback_is_refused(run_check, internal, monkeypatch):
    fake_dns(monkeypatch, {"status.example.test": ["127.0.0.1"]})
    url = f"http://status.example.test:{internal.port}"
    sr = run_check("http", {"url": f"{url}/secret"}, env_url=url)
    assert_refused(sr, "status.example.test (127.0.0.1)", "loopback")
    assert internal.hits == []


def test_localhost_is_refused(run_check, internal):
    url = f"http://localhost:{internal.port}"
    sr = run_check("http", {"url": f"{url}/secret"}, env_url=url)
    assert_refused(sr, "loopback")
    assert internal.hits == []


def test_every_resolved_address_is_checked(run_check, monkeypatch):
    fake_dns(monkeypatch, {"mixed.example.test": ["93.184.216.34", "10.0.0.7"]})
    with recorded_connections(monkeypatch) as attempts:
        sr = run_check(
            "http", {"url": "http://mixed.example.test/"}, env_url="http://mixed.example.test"
        )
    assert_refused(sr, "10.0.0.7", "private")
    assert attempts == []


def test_redirect_from_an_allowed_server_to_loopback_is_refused(run_check, internal, settings):
    """Both origins are allowed by the runbook: only the address policy stands in the way."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    target = f"{internal.url}/secret"
    with http_server("127.0.0.2", routes={"/go": (302, b"", {"Location": target})}) as public:
        sr = run_check(
            "http", {"url": f"{public.url}/go"}, env_url=public.url, origins=[internal.url]
        )
        assert [path for path, _ in public.hits] == ["/go"]
    assert_refused(sr, "127.0.0.1", "loopback")
    assert internal.hits == []


def test_redirect_to_the_same_name_resolving_elsewhere_is_refused(run_check, settings, monkeypatch):
    """Same origin, but the name answers loopback on the second lookup (DNS rebinding)."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    routes = {"/hop": (302, b"", {"Location": "/secret"})}
    with (
        http_server("127.0.0.2", routes=routes) as public,
        http_server("127.0.0.1", public.port, {"/secret": (200, SECRET, {})}) as internal,
    ):
        fake_dns(monkeypatch, {"rebind.example.test": [["127.0.0.2"], ["127.0.0.1"]]})
        url = f"http://rebind.example.test:{public.port}"
        sr = run_check("http", {"url": f"{url}/hop"}, env_url=url)
    assert_refused(sr, "rebind.example.test (127.0.0.1)", "loopback")
    assert internal.hits == []


def test_cloud_metadata_address_is_refused_without_connecting(run_check, monkeypatch):
    url = "http://169.254.169.254"
    with recorded_connections(monkeypatch) as attempts:
        sr = run_check("http", {"url": f"{url}/latest/meta-data/", "timeout": 0.5}, env_url=url)
    assert_refused(sr, "169.254.169.254", "link-local")
    assert "169.254.169.254" not in attempts


def test_ipv6_loopback_is_refused(run_check):
    with http_server("::1", routes={"/secret": (200, SECRET, {})}) as internal6:
        sr = run_check("http", {"url": f"{internal6.url}/secret"}, env_url=internal6.url)
    assert_refused(sr, "::1", "loopback")
    assert internal6.hits == []


def test_ipv4_mapped_ipv6_loopback_is_refused(run_check, internal):
    url = f"http://[::ffff:127.0.0.1]:{internal.port}"
    sr = run_check("http", {"url": f"{url}/secret"}, env_url=url)
    assert_refused(sr, "loopback, as 127.0.0.1 inside ::ffff:127.0.0.1")
    assert internal.hits == []


def test_a_latency_check_is_refused_the_same_way(run_check, internal):
    sr = run_check(
        "latency", {"url": f"{internal.url}/secret", "requests": 5}, env_url=internal.url
    )
    assert_refused(sr, "loopback")
    assert internal.hits == []


# --- what a result may carry ---------------------------------------------------------------------
def test_a_non_http_answer_is_never_echoed(run_check, settings, client_for):
    """A database, SMTP or SSH server answers with a banner: the check says "not HTTP" and
    nothing of the banner reaches the result, the audit log, the run page or the report."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    banner = b"-ERR " + SECRET + b" unknown command 'GET'\r\n"
    with banner_server(banner, host="127.0.0.2") as (url, connections):
        sr = run_check("http", {"url": f"{url}/", "contains": "ERR"}, env_url=url)
    assert connections, "the check should have reached the (allowed) service"
    assert_refused(sr, "did not answer with HTTP")
    assert sr.check_result["figures"] == {}
    assert "contains" not in sr.check_result["figures"]
    secret = SECRET.decode()
    for event in AuditEvent.objects.all():
        assert secret not in json.dumps(event.changes) + event.message
    for task in Task.objects.all():
        assert secret not in repr(task.result)
    client, _ = client_for("viewer")
    assert secret not in client.get(sr.run.get_absolute_url()).content.decode()
    report = client.get(reverse("runbooks:run_report_md", args=[sr.run_id])).content.decode()
    assert secret not in report


def test_contains_is_a_verdict_not_the_body(run_check, settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with http_server("127.0.0.2", routes={"/status": (200, SECRET + b" healthy", {})}) as srv:
        ok = run_check("http", {"url": f"{srv.url}/status", "contains": "healthy"}, env_url=srv.url)
        no = run_check(
            "http", {"url": f"{srv.url}/status", "contains": "degraded"}, env_url=srv.url
        )
    assert ok.check_status == CheckStatus.PASSED and ok.check_result["figures"]["contains"] is True
    assert no.check_status == CheckStatus.FAILED and no.check_result["figures"]["contains"] is False
    for sr in (ok, no):
        assert SECRET.decode() not in json.dumps(sr.check_result)


# --- bounds --------------------------------------------------------------------------------------
def test_latency_requests_are_capped_by_the_setting(
    version, operator, start_run, settings, django_capture_on_commit_callbacks
):
    """A step asks for 12 requests; the cap, lowered since, sends 3."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    with http_server("127.0.0.2") as srv:
        step = Step.objects.get(phase__version=version, title="Smoke test")
        v = services.step_update(
            actor=operator, step=step, title=step.title, body="", required=True,
            requires_second_signoff=False, check_type="latency",
            check_config={"url": f"{srv.url}/ok", "requests": 12, "threshold_ms": 5000},
        )  # fmt: skip
        settings.CHECK_LATENCY_MAX_REQUESTS = 3
        sr = step_run(start_run(v, EnvironmentFactory(name="lat", url=srv.url)), "Smoke test")
        with django_capture_on_commit_callbacks(execute=True):
            services.check_request(actor=operator, step_run=sr)
    sr.refresh_from_db()
    assert len(srv.hits) == 3
    assert sr.check_status == CheckStatus.PASSED
    assert sr.check_result["figures"]["requests"] == 3
    assert "12 requests asked, 3 sent" in sr.check_result["summary"]
    assert AuditEvent.objects.get(action="runbook.check.passed").changes["figures"]["requests"] == 3


def test_latency_request_count_is_capped_when_saved(version, operator, settings):
    settings.CHECK_LATENCY_MAX_REQUESTS = 5
    step = Step.objects.get(phase__version=version, title="Smoke test")
    v = services.step_update(
        actor=operator, step=step, title=step.title, body="", required=True,
        requires_second_signoff=False, check_type="latency",
        check_config={"url": "https://status.example.com/", "requests": 400},
    )  # fmt: skip
    assert Step.objects.get(phase__version=v, title="Smoke test").check_config["requests"] == 5
    assert AuditEvent.objects.filter(action="runbook.step.updated").count() == 1


def test_the_settings_have_a_ceiling(settings):
    settings.CHECK_LATENCY_MAX_REQUESTS = 100_000
    settings.CHECK_MAX_SECONDS = 86_400
    assert checks.max_latency_requests() == checks.LATENCY_REQUESTS_CEILING == 200
    assert checks.max_seconds() == checks.SECONDS_CEILING == 120


def test_a_latency_check_ends_within_its_total_time(run_check, settings):
    """Every request answers inside the per-request timeout, slowly: the total budget stops it."""
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    settings.CHECK_MAX_SECONDS = 1.0
    routes = {"/drip": lambda h: drip(h, chunks=10, every=0.1)}
    with http_server("127.0.0.2", routes=routes) as srv:
        started = time.monotonic()
        sr = run_check(
            "latency",
            {"url": f"{srv.url}/drip", "requests": 20, "threshold_ms": 60_000},
            env_url=srv.url,
        )
        elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    assert sr.check_status == CheckStatus.FAILED
    assert "budget ran out" in sr.check_result["summary"]
    assert len(srv.hits) < 20


def test_one_slow_response_cannot_outlast_the_budget(run_check, settings):
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.2/32"]
    settings.CHECK_MAX_SECONDS = 1.0
    routes = {"/drip": lambda h: drip(h, chunks=40, every=0.1)}
    with http_server("127.0.0.2", routes=routes) as srv:
        started = time.monotonic()
        sr = run_check("http", {"url": f"{srv.url}/drip"}, env_url=srv.url)
        elapsed = time.monotonic() - started
    assert elapsed < 3, elapsed
    assert sr.check_status == CheckStatus.FAILED
    assert "budget ran out" in sr.check_result["summary"]


# --- who decides which origins checks may reach --------------------------------------------------
def test_only_approvers_change_allowed_origins(version, operator, approver, client_for):
    with pytest.raises(PermissionDenied, match="allowed origins"):
        services.runbook_update(
            actor=operator, runbook=version.runbook, allowed_urls="http://127.0.0.1:5432"
        )
    version.runbook.refresh_from_db()
    assert version.runbook.allowed_urls == ""
    assert not AuditEvent.objects.filter(action="runbook.updated").exists()
    services.runbook_update(
        actor=approver, runbook=version.runbook, allowed_urls="https://status.example.com"
    )
    event = AuditEvent.objects.get(action="runbook.updated")
    assert event.actor == approver
    assert event.changes["allowed_urls"] == {"before": "", "after": "https://status.example.com"}
    # The settings page follows the same rule.
    client, _ = client_for("operator")
    url = reverse("runbooks:runbook_settings", args=[version.runbook_id])
    assert client.get(url).status_code == 403
    assert client.post(url, {"allowed_urls": "http://10.0.0.1"}).status_code == 403
    version.runbook.refresh_from_db()
    assert version.runbook.allowed_urls == "https://status.example.com"


def test_an_operator_cannot_import_a_runbook_with_allowed_origins(operator, approver):
    with pytest.raises(ValidationError) as info:
        services.runbook_import(
            actor=operator, text=SMALL_PLAN, source_name="a.md", allowed_urls="http://10.0.0.1"
        )
    assert "Only an approver" in info.value.message_dict["allowed_urls"][0]
    assert not AuditEvent.objects.filter(action="runbook.imported").exists()
    version = services.runbook_import(
        actor=approver, text=SMALL_PLAN, source_name="b.md", allowed_urls="https://s.example.com"
    )
    assert version.runbook.allowed_urls == "https://s.example.com"
    event = AuditEvent.objects.get(action="runbook.imported")
    assert event.actor == approver
