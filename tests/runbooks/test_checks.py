"""Automated checks against a local HTTP server started by the test, and env/import checks."""

import sys
import threading
import time
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from opsportal.audit.models import AuditEvent
from runbooks import services
from runbooks.checks import percentile
from runbooks.choices import CheckStatus, StepStatus
from runbooks.models import Step
from tests.factories import EnvironmentFactory

from .conftest import step_run

pytestmark = pytest.mark.django_db


class Handler(BaseHTTPRequestHandler):
    flaky_calls = 0

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path == "/ok":
            self._send(200, b'{"status": "healthy"}')
        elif self.path == "/slow":
            time.sleep(0.6)
            self._send(200, b"slow but fine")
        elif self.path == "/fail":
            self._send(500, b"boom")
        elif self.path == "/hop":
            self._send(302, headers={"Location": "/ok"})
        elif self.path == "/away":
            self._send(302, headers={"Location": f"http://localhost:{port}/ok"})
        elif self.path == "/flaky":
            Handler.flaky_calls += 1
            self._send(503 if Handler.flaky_calls == 1 else 200, b"ok")
        else:
            self._send(404)


@pytest.fixture
def server(settings):
    # The address policy refuses loopback: these tests allow the test server's address only.
    settings.CHECK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.flaky_calls = 0
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def check_run(version, operator, start_run, server):
    """A run on an environment whose URL is the local server, with a configurable check step."""
    env = EnvironmentFactory(name="staging", url=server)

    def make(check_type: str, config: dict, *, environment=None):
        step = Step.objects.get(phase__version=version, title="Smoke test")
        v = services.step_update(
            actor=operator,
            step=step,
            title="Smoke test",
            body="",
            required=True,
            requires_second_signoff=False,
            check_type=check_type,
            check_config=config,
        )
        run = start_run(v, environment or env)
        return step_run(run, "Smoke test")

    return make


def run_check(sr, operator, capture):
    with capture(execute=True):
        services.check_request(actor=operator, step_run=sr)
    sr.refresh_from_db()
    return sr


def test_http_check_passes_and_signs_for_the_operator(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = check_run("http", {"url": f"{server}/ok", "expected_status": 200, "contains": "healthy"})
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.PASSED
    assert sr.status == StepStatus.DONE
    assert sr.signed_by == operator
    assert sr.note.startswith("Signed by the system on behalf of olga")
    assert sr.check_result["figures"]["status"] == 200
    assert AuditEvent.objects.filter(action="runbook.check.requested", actor=operator).exists()
    event = AuditEvent.objects.get(action="runbook.check.passed")
    assert event.actor_label == "system on behalf of olga"


def test_http_check_follows_same_origin_redirects(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = run_check(
        check_run("http", {"url": f"{server}/hop"}), operator, django_capture_on_commit_callbacks
    )
    assert sr.check_status == CheckStatus.PASSED


def test_http_check_fails_on_wrong_status_and_shows_rollback(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = run_check(
        check_run("http", {"url": f"{server}/fail"}), operator, django_capture_on_commit_callbacks
    )
    assert sr.check_status == CheckStatus.FAILED
    assert sr.status == StepStatus.FAILED
    assert "returned 500, expected 200" in sr.check_result["summary"]
    assert AuditEvent.objects.filter(action="runbook.check.failed").count() == 1


def test_http_check_refuses_redirect_to_another_origin(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = run_check(
        check_run("http", {"url": f"{server}/away"}), operator, django_capture_on_commit_callbacks
    )
    assert sr.check_status == CheckStatus.FAILED
    assert "another origin" in sr.check_result["summary"]


def test_http_check_refuses_origins_not_configured(
    check_run, operator, django_capture_on_commit_callbacks
):
    sr = check_run("http", {"url": "http://127.0.0.1:9/ok"})
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.FAILED
    assert "not an allowed origin" in sr.check_result["summary"]


def test_http_check_times_out_capped_by_settings(
    check_run, server, operator, settings, django_capture_on_commit_callbacks
):
    settings.CHECK_MAX_TIMEOUT_SECONDS = 0.2
    sr = check_run("http", {"url": f"{server}/slow", "timeout": 30})
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    # /slow answers after 0.6 s: with the step's own 30 s the check would pass; a time-out
    # proves the 0.2 s ceiling applied (no wall-clock bound: the suite shares its machine).
    assert sr.check_status == CheckStatus.FAILED
    assert "Timed out" in sr.check_result["summary"]


def test_failed_check_can_be_rerun(check_run, server, operator, django_capture_on_commit_callbacks):
    sr = check_run("http", {"url": f"{server}/flaky"})
    assert run_check(sr, operator, django_capture_on_commit_callbacks).status == StepStatus.FAILED
    assert run_check(sr, operator, django_capture_on_commit_callbacks).status == StepStatus.DONE
    assert AuditEvent.objects.filter(action="runbook.check.requested").count() == 2


def test_latency_check_reports_percentiles(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = check_run(
        "latency", {"url": f"{server}/ok", "requests": 12, "percentile": "p95", "threshold_ms": 500}
    )
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    figures = sr.check_result["figures"]
    assert sr.check_status == CheckStatus.PASSED
    assert figures["requests"] == 12
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] < 500
    assert "P95" in sr.check_result["summary"]


def test_latency_check_fails_over_threshold(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = check_run(
        "latency",
        {"url": f"{server}/slow", "requests": 2, "percentile": "p95", "threshold_ms": 100},
    )
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.FAILED
    assert sr.check_result["figures"]["p95_ms"] >= 500
    assert "over 100 ms" in sr.check_result["summary"]


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 99)) == (50, 95, 99)


def test_check_on_a_step_without_check_is_refused(version, dev_env, start_run, operator):
    run = start_run(version, dev_env)
    with pytest.raises(Exception, match="no automated check"):
        services.check_request(actor=operator, step_run=step_run(run, "Smoke test"))


# --- environment and import checks (their functions come from other apps) ---------------------
@pytest.fixture
def fake_env_modules(monkeypatch):
    finding = types.SimpleNamespace
    state = {"findings": [], "drift": {"only_in_a": [], "only_in_b": []}}
    drift = types.ModuleType("environments.drift")
    drift.key_drift = lambda a, b: state["drift"]
    hygiene = types.ModuleType("environments.hygiene")
    hygiene.check_environment = lambda env: state["findings"]
    checks = types.ModuleType("imports.checks")
    checks.job_status = lambda job_id: state["job"]
    monkeypatch.setitem(sys.modules, "environments.drift", drift)
    monkeypatch.setitem(sys.modules, "environments.hygiene", hygiene)
    monkeypatch.setitem(sys.modules, "imports.checks", checks)
    state["finding"] = finding
    return state


def test_env_drift_check(check_run, operator, fake_env_modules, django_capture_on_commit_callbacks):
    other = EnvironmentFactory(name="prod-like")
    fake_env_modules["drift"] = {"only_in_a": ["NEW_FLAG"], "only_in_b": []}
    sr = run_check(
        check_run("env_drift", {"other_environment": other.pk}),
        operator,
        django_capture_on_commit_callbacks,
    )
    assert sr.check_status == CheckStatus.FAILED
    assert sr.check_result["figures"]["only_in_a"] == ["NEW_FLAG"]
    fake_env_modules["drift"] = {"only_in_a": [], "only_in_b": []}
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.PASSED


def test_env_clean_check(check_run, operator, fake_env_modules, django_capture_on_commit_callbacks):
    f = fake_env_modules["finding"]
    fake_env_modules["findings"] = [
        f(severity="error", rule="test-key-in-prod", key="STRIPE_KEY", message="test key"),
        f(severity="warning", rule="rotation", key="X", message="due"),
    ]
    sr = run_check(check_run("env_clean", {}), operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.FAILED
    assert sr.check_result["figures"]["errors"] == 1
    fake_env_modules["findings"] = [fake_env_modules["findings"][1]]
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.PASSED
    assert "1 warning" in sr.check_result["summary"]


def test_import_job_check(
    check_run, operator, fake_env_modules, django_capture_on_commit_callbacks
):
    fake_env_modules["job"] = {"ok": True, "summary": "Job 7 completed", "figures": {"rows": 9}}
    sr = run_check(
        check_run("import_job", {"job_id": 7}), operator, django_capture_on_commit_callbacks
    )
    assert sr.check_status == CheckStatus.PASSED
    assert sr.check_result["figures"] == {"rows": 9}


def test_passed_check_can_be_rerun_as_fresh_evidence(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    sr = run_check(
        check_run("http", {"url": f"{server}/ok"}), operator, django_capture_on_commit_callbacks
    )
    first_ran = sr.check_ran_at
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.status == StepStatus.DONE and sr.check_ran_at > first_ran
    assert AuditEvent.objects.filter(action="runbook.check.passed").count() == 2


def test_allowed_urls_on_the_runbook_open_an_origin(
    version, operator, approver, start_run, server, django_capture_on_commit_callbacks
):
    services.runbook_update(actor=approver, runbook=version.runbook, allowed_urls=server)
    env = EnvironmentFactory(name="no-url")
    step = Step.objects.get(phase__version=version, title="Smoke test")
    v = services.step_update(
        actor=operator,
        step=step,
        title="Smoke test",
        body="",
        required=True,
        requires_second_signoff=False,
        check_type="http",
        check_config={"url": f"{server}/ok"},
    )
    sr = step_run(start_run(v, env), "Smoke test")
    assert run_check(sr, operator, django_capture_on_commit_callbacks).check_status == "passed"


# --- environment checks against the environments app's real functions -------------------------
def test_env_drift_check_with_real_key_drift(
    check_run, operator, django_capture_on_commit_callbacks
):
    from tests.environments.factories import ConfigVarFactory

    env_a = EnvironmentFactory(name="staging-a")
    env_b = EnvironmentFactory(project=env_a.project, name="prod-b")
    for key in ("DATABASE_URL", "FEATURE_X"):
        ConfigVarFactory(environment=env_a, key=key, raw="value-1", secret=False)
    ConfigVarFactory(environment=env_b, key="DATABASE_URL", raw="value-2", secret=False)
    sr = check_run("env_drift", {"other_environment": env_b.pk}, environment=env_a)
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.FAILED
    assert sr.check_result["figures"]["only_in_a"] == ["FEATURE_X"]
    ConfigVarFactory(environment=env_b, key="FEATURE_X", raw="value-3", secret=False)
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.PASSED
    assert "No key drift" in sr.check_result["summary"]


def test_env_clean_check_with_real_hygiene(check_run, operator, django_capture_on_commit_callbacks):
    from tests.environments.factories import ConfigVarFactory

    env = EnvironmentFactory(name="clean-me")
    missing = ConfigVarFactory(
        environment=env, key="REQUIRED_URL", raw="", secret=False, required=True, has_value=False
    )
    sr = run_check(
        check_run("env_clean", {}, environment=env), operator, django_capture_on_commit_callbacks
    )
    assert sr.check_status == CheckStatus.FAILED
    assert any("required_missing" in f for f in sr.check_result["figures"]["findings"])
    missing.delete()
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.PASSED


def test_latency_check_stops_when_its_budget_runs_out(
    check_run, server, operator, settings, django_capture_on_commit_callbacks
):
    settings.CHECK_MAX_SECONDS = 1.0
    sr = check_run("latency", {"url": f"{server}/slow", "requests": 10, "threshold_ms": 5000})
    started = time.perf_counter()
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    assert time.perf_counter() - started < 3
    assert sr.check_status == CheckStatus.FAILED
    assert "budget ran out" in sr.check_result["summary"]
    assert sr.check_result["figures"]["requests"] < 10


def test_report_shows_check_figures(
    check_run, server, operator, client_for, django_capture_on_commit_callbacks
):
    sr = check_run("latency", {"url": f"{server}/ok", "requests": 5, "threshold_ms": 500})
    sr = run_check(sr, operator, django_capture_on_commit_callbacks)
    client, _ = client_for("viewer")
    md = client.get(f"/runbooks/runs/{sr.run_id}/report.md").content.decode()
    html = client.get(f"/runbooks/runs/{sr.run_id}/report/").content.decode()
    p95 = sr.check_result["figures"]["p95_ms"]
    for text in (md, html):
        assert f"p95_ms={p95}" in text
        assert "by the system on behalf of olga" in text


def test_credentials_in_check_urls_never_reach_results_or_audit(
    check_run, server, operator, django_capture_on_commit_callbacks
):
    url = server.replace("http://", "http://deploy:s3cr3t-pass@") + "/fail"
    sr = run_check(check_run("http", {"url": url}), operator, django_capture_on_commit_callbacks)
    assert sr.check_status == CheckStatus.FAILED
    assert "s3cr3t-pass" not in sr.check_result["summary"]
    for event in AuditEvent.objects.filter(action__startswith="runbook."):
        assert "s3cr3t-pass" not in str(event.changes) + event.message


def test_import_job_check_with_real_job_status(
    check_run, operator, django_capture_on_commit_callbacks
):
    from tests.imports.factories import CLEAN, apply_file

    missing = run_check(
        check_run("import_job", {"job_id": 999_999}), operator, django_capture_on_commit_callbacks
    )
    assert missing.check_status == CheckStatus.FAILED
    assert "does not exist" in missing.check_result["summary"]
    job = apply_file(operator, CLEAN / "users.csv")
    sr = run_check(
        check_run("import_job", {"job_id": job.pk}), operator, django_capture_on_commit_callbacks
    )
    assert sr.check_result["figures"]["processed"] == job.processed_rows > 0
    # The clean fixture imports without rejections or reviews: the check passes and signs.
    assert sr.check_status == CheckStatus.PASSED and sr.status == StepStatus.DONE
    assert "completed" in sr.check_result["summary"]
