"""An API read never contains a secret's value.

Secrets that are unique sentinels go in through the API's own import (applied on dev, a change
request on prod, the change request then approved), a runbook run, audit events and an import
job; then every GET operation the API serves (read from the API, so a new endpoint is scanned
without a new test) is called and its JSON searched for every sentinel.
"""

import json
import re

import pytest
from django.db import transaction

from environments import services as env_services
from environments.choices import Tier
from environments.models import ChangeRequest
from imports.models import ImportJob
from opsportal.api.main import operations
from opsportal.api.scopes import SCOPES
from opsportal.audit.services import record
from runbooks import services as runbook_services
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db

MARK = {
    key: f"SNTL{i:02d}Api{i * 7919:05d}x"
    for i, key in enumerate(
        [
            "STRIPE_SECRET_KEY",
            "CLERK_SECRET_KEY",
            "CLERK_WEBHOOK_SECRET",
            "CSRF_SECRET",
            "DATABASE_URL",
            "UPSTASH_REDIS_URL",
            "OPENAI_API_KEY",
            "CONVEX_DEPLOY_KEY",
            "SESSION_PASSWORD",
            "GITHUB_TOKEN",
        ]
    )
}
M = MARK
SECRETS = {
    "STRIPE_SECRET_KEY": f"sk_live_{M['STRIPE_SECRET_KEY']}tail",
    "CLERK_SECRET_KEY": f"sk_test_{M['CLERK_SECRET_KEY']}tail",
    "CLERK_WEBHOOK_SECRET": f"whsec_{M['CLERK_WEBHOOK_SECRET']}tail",
    "CSRF_SECRET": f"{M['CSRF_SECRET']}9f7d2c1be4a8",
    "DATABASE_URL": f"postgres://app:{M['DATABASE_URL']}@db.example.com:5432/app",
    "UPSTASH_REDIS_URL": f"rediss://default:{M['UPSTASH_REDIS_URL']}@eu1.upstash.io:6379",
    "OPENAI_API_KEY": f"sk-proj-{M['OPENAI_API_KEY']}tail",
    "CONVEX_DEPLOY_KEY": f"prod:basic-oriole-337|{M['CONVEX_DEPLOY_KEY']}tailtail",
    "SESSION_PASSWORD": f"{M['SESSION_PASSWORD']} with spaces",
    "GITHUB_TOKEN": f"ghp_{M['GITHUB_TOKEN']}AbCdEfGhIjKlMnOp",
}
PUBLIC = {"NEXT_PUBLIC_SITE_URL": "https://acme.example", "SITE_NAME": "Leak test"}
# The values of every path parameter an API operation may take. A new parameter name fails the
# test until it is given a value here (so the new endpoint is really read, not skipped).
PATH_VALUES = {
    "project_slug": lambda w: w["project"].slug,
    "environment_name": lambda w: "prod",
    "change_request_id": lambda w: w["change_request"].pk,
    "run_id": lambda w: w["run"].pk,
    "job_id": lambda w: w["job"].pk,
    "seq": lambda w: w["seq"],
}


def dotenv(values: dict) -> str:
    return "".join(f'{k}="{v}"\n' for k, v in values.items())


def assert_clean(text: str, where: str):
    for needle in MARK.values():
        assert needle not in text, f"{needle} leaked in {where}"


@pytest.fixture
def world(token_for, user_factory):
    operator = user_factory("operator", username="otto")
    approver = user_factory("approver", username="anna")
    project = ProjectFactory(name="acme.app", slug="acme-app")
    EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    importer = token_for(user=operator, role="operator", scopes=["env:import"])[0]
    text = dotenv({**SECRETS, **PUBLIC})
    for name, expected in (("dev", 200), ("prod", 202)):
        r = importer.post(
            f"/api/environments/acme-app/{name}/import",
            data={"text": text, "dry_run": False, "reason": f"with {SECRETS['GITHUB_TOKEN']}"},
            content_type="application/json",
        )
        assert r.status_code == expected, r.content
        assert_clean(r.content.decode(), f"import into {name}")
    # A dry run and a refused import answer without the values too.
    r = importer.post(
        "/api/environments/acme-app/dev/import",
        data={"text": text.replace("STRIPE", "NEW_STRIPE")},
        content_type="application/json",
    )
    assert r.status_code == 200
    assert_clean(r.content.decode(), "dry run")
    r = importer.post(
        "/api/environments/acme-app/dev/import",
        data={"text": f"not a line {SECRETS['STRIPE_SECRET_KEY']}", "format": "dotenv"},
        content_type="application/json",
    )
    assert r.status_code == 422
    assert_clean(r.content.decode(), "refused import")
    # Prod's change request, still pending once and then approved.
    cr = ChangeRequest.objects.get(environment=prod)
    env_services.changerequest_approve(actor=approver, change_request=cr, reason="ok")
    env_services.import_plan  # noqa: B018 (the same services the pages use)
    version = runbook_services.runbook_import(
        actor=operator,
        text=f"# Plan\n\n## Go\n\n- [ ] Set `STRIPE_SECRET_KEY={SECRETS['STRIPE_SECRET_KEY']}`\n",
        source_name="plan.md",
    )
    from django.utils import timezone

    run = runbook_services.run_start(
        actor=operator,
        version=version,
        environment=prod,
        planned_start=timezone.now(),
        planned_end=timezone.now() + timezone.timedelta(hours=1),
    )
    runbook_services.run_abort(actor=operator, run=run, reason=f"key {SECRETS['OPENAI_API_KEY']}")
    job = ImportJob.objects.create(
        kind="users",
        original_name="users.csv",
        sha256="b" * 64,
        file="imports/users.csv",
        error=f"failed near {SECRETS['DATABASE_URL']}",
        created_by=operator,
    )
    with transaction.atomic():
        event = record(
            actor=operator,
            action="test.note",
            environment=prod,
            message=f"pasted {SECRETS['CLERK_SECRET_KEY']}",
            changes={"note": SECRETS["UPSTASH_REDIS_URL"]},
        )
    return {"project": project, "change_request": cr, "run": run, "job": job, "seq": event.seq}


def test_no_get_endpoint_returns_a_secret_value(world, token_for, user_factory):
    reader = token_for(user=user_factory("admin"), role="admin", scopes=list(SCOPES))[0]
    read = []
    for method, path, _op, scopes in operations():
        if method != "GET" or scopes is None:
            continue
        names = re.findall(r"\{([^}]+)\}", path)
        missing = [n for n in names if n not in PATH_VALUES]
        assert not missing, f"give PATH_VALUES a value for {missing} ({path})"
        url = "/api" + re.sub(r"\{([^}]+)\}", lambda m: str(PATH_VALUES[m[1]](world)), path)
        if not names:
            url += "?limit=200"
        r = reader.get(url)
        assert r.status_code in (200, 409), (url, r.status_code, r.content[:300])
        text = r.content.decode()
        json.loads(text)
        assert_clean(text, f"GET {url}")
        read.append(url)
    # The scan reached the planted data (not a run over empty lists).
    assert any("/variables" in u for u in read) and any("/audit/events" in u for u in read)
    variables = reader.get("/api/environments/acme-app/prod/variables").json()
    assert {v["key"] for v in variables} >= set(SECRETS)
    assert all(v["value"] is None for v in variables if v["key"] in SECRETS)
    events = reader.get("/api/audit/events?limit=200").json()["items"]
    assert {"env.import.applied", "changerequest.created", "test.note"} <= {
        e["action"] for e in events
    }
