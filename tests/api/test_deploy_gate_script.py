"""docs/ci/deploy-gate.sh against a running portal: the script CI runs (bash and curl only)
passes on a clean environment, closes the gate on hygiene errors and never prints the token."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from environments.choices import Tier
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "ci" / "deploy-gate.sh"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl"),
]


def run_step(live_server, token: str, environment: str, *args: str):
    env = {
        "PATH": os.environ["PATH"],
        "OPSPORTAL_URL": live_server.url + "/",
        "OPSPORTAL_TOKEN": token,
        "OPSPORTAL_ENVIRONMENT": environment,
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_gate_opens_on_a_clean_environment_and_closes_on_errors(live_server, token_for):
    project = ProjectFactory(name="acme.app", slug="acme-app")
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_live_51GateLiveKeyAbCdEf")
    _client, _user, _token, raw = token_for("viewer", ["env:check"])

    ok = run_step(live_server, raw, "acme-app/prod", "check")
    assert ok.returncode == 0, (ok.stdout, ok.stderr)
    assert "acme-app/prod configuration is clean" in ok.stdout
    assert '"passed": true' in ok.stdout

    ConfigVarFactory(environment=prod, key="CLERK_SECRET_KEY", raw="sk_test_GateTestKeyAbCdEfGh12")
    closed = run_step(live_server, raw, "acme-app/prod")  # `check` is the default step
    assert closed.returncode == 1, (closed.stdout, closed.stderr)
    assert "::error::opsportal: acme-app/prod has configuration errors" in closed.stdout
    assert "test_key_in_production" in closed.stdout and "CLERK_SECRET_KEY" in closed.stdout
    assert "GateTestKey" not in closed.stdout

    for result in (ok, closed):
        assert raw not in result.stdout + result.stderr


def test_gate_cannot_ask_the_portal(live_server, token_for):
    ProjectFactory(name="acme.app", slug="acme-app")
    _c, _u, _t, reader = token_for("viewer", ["read"])
    _c, _u, _t, checker = token_for("viewer", ["env:check"])
    cases = {
        "opsp_1_" + "x" * 40: "HTTP 401",  # not a token the portal gave out
        reader: "HTTP 403",  # a token without env:check
        checker: "HTTP 404",  # no such environment
    }
    for token, said in cases.items():
        result = run_step(live_server, token, "acme-app/nope", "check")
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert said in result.stderr and token not in result.stdout + result.stderr
    unknown = run_step(live_server, checker, "acme-app/prod", "deploy-everything")
    assert unknown.returncode == 2 and "unknown step" in unknown.stderr
