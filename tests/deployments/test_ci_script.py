"""docs/ci/deploy-gate.sh, the curl-only CI steps, against a running portal: gate on the health
check, record the deployment as in progress, then as succeeded (one deployment, two events)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from deployments.models import Deployment
from opsportal.audit.models import AuditEvent
from tests.api.conftest import token_for  # noqa: F401 (fixture)

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "ci" / "deploy-gate.sh"
SHA = "5d1e8a3c7f9b2d4e6a8c0f1b3d5e7a9c1b3d5f7a"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl"),
]


def step(live_server, token, *args, **extra):
    env = {
        "PATH": os.environ["PATH"],
        "OPSPORTAL_URL": live_server.url,
        "OPSPORTAL_TOKEN": token,
        "OPSPORTAL_ENVIRONMENT": "makalah-ai/prod",
        # what GitHub Actions sets in a workflow run
        "GITHUB_SHA": SHA,
        "GITHUB_REF_NAME": 'release/"2026-12"',
        "GITHUB_RUN_ID": "8812345",
        "GITHUB_RUN_ATTEMPT": "2",
        **extra,
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_gate_then_record_a_deployment_as_a_workflow_does(live_server, token_for, prod):  # noqa: F811
    _c, user, token, raw = token_for(
        "operator", ["env:check", "deployments:write"], name="GitHub Actions"
    )
    gate = step(live_server, raw, "check")
    assert gate.returncode == 0, (gate.stdout, gate.stderr)

    started = step(live_server, raw, "record", "in_progress")
    assert started.returncode == 0, (started.stdout, started.stderr)
    assert "recorded the deployment of 5d1e8a3 to makalah-ai/prod as in_progress" in started.stdout
    done = step(
        live_server,
        raw,
        "record",
        "success",
        OPSPORTAL_DEPLOY_URL="https://makalah.ai",
        OPSPORTAL_COMMIT_TIME="2026-11-30T08:00:00+00:00",
    )
    assert done.returncode == 0, (done.stdout, done.stderr)

    dep = Deployment.objects.get()
    assert (dep.environment, dep.sha, dep.status) == (prod, SHA, "success")
    assert dep.external_id == "8812345-2" and dep.provider == "github_actions"
    assert dep.ref == 'release/"2026-12"' and dep.url == "https://makalah.ai"
    assert dep.commit_time.isoformat() == "2026-11-30T08:00:00+00:00"
    assert dep.triggered_by == user and dep.via_token_id == token.pk
    assert AuditEvent.objects.filter(action="deployment.recorded", actor=user).count() == 1
    assert AuditEvent.objects.filter(action="deployment.updated", actor=user).count() == 1
    for result in (gate, started, done):
        assert raw not in result.stdout + result.stderr


def test_record_fails_the_job_when_refused(live_server, token_for, prod):  # noqa: F811
    _c, _user, _token, raw = token_for("operator", ["deployments:write"])
    bad = step(live_server, raw, "record", "deployed")
    assert bad.returncode == 2
    assert "HTTP 422" in bad.stderr and "status" in bad.stderr
    reader = token_for("operator", ["read"])[3]
    refused = step(live_server, reader, "record")
    assert refused.returncode == 2 and "HTTP 403" in refused.stderr
    assert not Deployment.objects.exists()
