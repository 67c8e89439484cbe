"""No secret in the clear, from any input (issue 11): the acceptance test.

Every input a person or a file has into the portal gets its own credential-shaped sentinels
(``leakhunt.SHAPES``: Stripe keys, ``whsec_``, URL passwords, Slack/Discord/Telegram webhooks, a
Sentry DSN, a Convex deploy key, ``SESSION_SECRET=<hex>``, ``?token=`` URLs, ...), planted the
way people plant them: the web forms through the Django test client as the role that may post
them, ``manage.py env_import``, an import file, the login form, a runbook check. Then every
surface is searched once:

- every page reachable for each role (a crawl from the dashboard and the lists, links and
  redirects followed): the admin reads every object's page, the Django admin and every export
  and download; viewer, operator and approver every list and one object of each kind;
- every column of every table (audit rows, axes' tables, the session table included), the
  decoded sessions and django-q2's pickled task arguments and results;
- every log record of every logger at DEBUG; the commands' output; files under MEDIA_ROOT;
- on PostgreSQL, a plain ``pg_dump`` of the test database.

The planting and the search run once for the module (``census``, with committed data so that
``pg_dump`` sees it); one test per input then reports where that input's sentinels were found.
``LEAKHUNT_REPORT=/tmp/leaks.json`` also writes every finding (input, sentinel, surface, place)
as JSON.
Add an input: write a function in the INPUTS table below (``@leak_input``) that plants through
the public entry points and asserts its write happened (its audit event); the searchers need
no change.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from environments.choices import Tier
from environments.models import ChangeRequest, ConfigVar, Environment, Project
from imports.models import ImportJob, Product, ReviewItem
from opsportal.accounts.roles import ensure_roles
from opsportal.audit.models import AuditEvent
from runbooks.models import Run, RunbookVersion, StepRun
from tests.environments.factories import ConfigVarFactory
from tests.factories import (
    EnvironmentFactory,
    ProjectFactory,
    ProviderDeploymentFactory,
    UserFactory,
)
from tests.imports.phpcsv import export as php_csv

from . import leakhunt
from .leakhunt import Census, Sentinels

# The tests read the census; the marker also makes pytest-django set the test database up when
# only these tests are selected.
pytestmark = pytest.mark.django_db

ISSUE_11 = "issue 11 in progress"
# Inputs that leak with the code of today: the lead removes them from this set as issue 11's
# fixes land (strict=False: a fixed input shows up as XPASS until then).
LEAKING_TODAY: set[str] = set()  # inputs that still leak, marked xfail while being fixed


# --- The portal the inputs go into --------------------------------------------------------------
class Portal:
    """Users and logged-in clients per role, a project with dev and prod (protected), and
    helpers that post forms the way a browser does (following the redirect, so flash messages
    are rendered and searched too)."""

    ROLES = {"viewer": "vera", "operator": "otto", "approver": "anna", "admin": "root"}

    def __init__(self, sentinels: Sentinels, census: Census, *, stub_url: str, tmp: Path):
        self.sentinels, self.census, self.stub_url, self.tmp = sentinels, census, stub_url, tmp
        ensure_roles()
        self.users = {
            role: UserFactory(role=role, username=name) for role, name in self.ROLES.items()
        }
        self.clients = {}
        for role, user in self.users.items():
            c = Client(raise_request_exception=False)
            c.force_login(user)
            self.clients[role] = c
        self.project = ProjectFactory(name="acme.app", slug="acme-app")
        self.dev = EnvironmentFactory(project=self.project, name="dev", tier=Tier.DEVELOPMENT)
        self.prod = EnvironmentFactory(project=self.project, name="prod", tier=Tier.PRODUCTION)
        assert self.prod.protected
        ProviderDeploymentFactory(
            environment=self.prod, provider="convex", identifier="prod:basic-oriole-337",
            url="https://basic-oriole-337.convex.cloud",
        )  # fmt: skip
        public = {"LOG_LEVEL": "info", "FEATURE_FLAGS": "a,b", "CACHE_TTL": "60",
                  "MAIL_FROM": "ops@acme.app"}  # fmt: skip
        for key, raw in public.items():
            ConfigVarFactory(environment=self.prod, key=key, raw=raw, secret=False)
        ConfigVarFactory(environment=self.prod, key="API_TOKEN", raw="tok-" + "x1" * 12)
        ConfigVarFactory(environment=self.dev, key="WEBHOOK_SIGNING_SECRET", raw="z9" * 16)
        self._runbook_version = None

    # posting -----------------------------------------------------------------------------------
    def post(self, role: str, url: str, data: dict | None = None, *, expect: int = 302, **extra):
        client = self.clients[role]
        response = client.post(url, data or {}, **extra)
        if response.status_code != expect:
            body = leakhunt.response_text(response)
            errors = " | ".join(
                " ".join(line.split())
                for line in body.split('class="invalid-feedback')[1:4] + body.split("alert-")[1:4]
            )[:600]
            raise AssertionError(
                f"POST {url} as {role}: {response.status_code}, expected {expect}: {errors}"
            )
        if expect == 302:
            location = response["Location"]
            page = client.get(location)
            self.census.scan(
                "page", f"GET {location} after POST {url} as {role}", leakhunt.response_text(page)
            )
        return response

    def env(self, name: str, tier: str = Tier.DEVELOPMENT) -> Environment:
        return EnvironmentFactory(project=self.project, name=name, tier=tier)

    def command(self, *args) -> str:
        out, err = StringIO(), StringIO()
        call_command(*args, stdout=out, stderr=err)
        text = out.getvalue() + err.getvalue()
        self.census.scan("command output", "manage.py " + " ".join(args[:1] + args[2:]), text)
        return text

    # environments ------------------------------------------------------------------------------
    def env_import(self, env, text, *, role="operator", upload=True, reason="", public_keys=""):
        """The browser flow: paste or upload, read the preview, apply it."""
        data = {"format": "auto", "reason": reason, "public_keys": public_keys, "text": ""}
        if upload:
            data["upload"] = SimpleUploadedFile(f"{env.name}.env", text.encode(), "text/plain")
        else:
            data["text"] = text
        url = reverse("environments:env_import", args=[env.pk])
        response = self.clients[role].post(url, data)
        assert response.status_code == 302, leakhunt.response_text(response)[-1500:]
        preview = response["Location"]
        assert "/import/" in preview, preview
        page = self.clients[role].get(preview)
        where = f"GET {preview} (import preview) as {role}"
        self.census.scan("page", where, leakhunt.response_text(page))
        return self.post(role, preview)

    def approve(self, cr: ChangeRequest, reason: str = "looks right"):
        url = reverse("environments:changerequest_decide", args=[cr.pk, "approve"])
        self.post("approver", url, {"confirm": cr.environment.name, "reason": reason})
        cr.refresh_from_db()
        assert cr.status == "applied", cr.status

    def edit_var(self, var: ConfigVar, *, value="", description="", reason="", marked="no"):
        url = reverse("environments:configvar_edit", args=[var.pk])
        data = {"key": var.key, "value": value, "secret": marked, "description": description,
                "example": "", "owner": "", "source": "", "reason": reason}  # fmt: skip
        return self.post("operator", url, data)

    # runbooks ----------------------------------------------------------------------------------
    def runbook_import(self, text: str) -> RunbookVersion:
        """Paste a plan; where the portal shows a preview first, read it and save."""
        before = set(RunbookVersion.objects.values_list("pk", flat=True))
        url = reverse("runbooks:runbook_import")
        response = self.post("operator", url, {"text": text})
        location = response["Location"]
        if location.startswith(url) and location != url:
            self.post("operator", location)
        return RunbookVersion.objects.exclude(pk__in=before).get()

    def step_edit(self, version: RunbookVersion, step_title: str, **fields) -> RunbookVersion:
        step = version.phases.get(order=1).steps.get(title=step_title)
        data = {"title": step_title, "body": "", "required": "on", "check_type": "", **fields}
        self.post("operator", reverse("runbooks:step_edit", args=[step.pk]), data)
        return RunbookVersion.objects.filter(runbook=version.runbook).order_by("-number").first()

    def runbook_version(self) -> RunbookVersion:
        """A plain plan whose first step needs a second sign-off on protected environments."""
        if self._runbook_version is None:
            version = self.runbook_import(PLAN.format(title="Release checklist", extra=""))
            self._runbook_version = self.step_edit(
                version, "Announce the window", requires_second_signoff="on"
            )
        return self._runbook_version

    def start_run(self, env=None, version=None) -> Run:
        version = version or self.runbook_version()
        now = timezone.localtime()
        data = {
            "environment": (env or self.prod).pk,
            "planned_start": now.strftime("%Y-%m-%dT%H:%M"),
            "planned_end": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        }
        before = set(Run.objects.values_list("pk", flat=True))
        self.post("operator", reverse("runbooks:run_start", args=[version.pk]), data)
        return Run.objects.exclude(pk__in=before).get()

    def step_action(self, run: Run, title: str, action: str, role="operator", **data):
        sr = StepRun.objects.get(run=run, step__title=title)
        self.post(role, reverse("runbooks:step_action", args=[sr.pk, action]), data)
        sr.refresh_from_db()
        return sr

    # imports -----------------------------------------------------------------------------------
    def upload(self, name: str, content: bytes, *, confirm: bool = True) -> ImportJob:
        before = set(ImportJob.objects.values_list("pk", flat=True))
        upload = SimpleUploadedFile(name, content, "text/csv")
        data = {"file": upload, "kind": "auto", "batch_size": 100}
        self.post("operator", reverse("imports:job_upload"), data)
        job = ImportJob.objects.exclude(pk__in=before).get()
        assert job.status == "ready", (job.status, job.error, job.preview)
        if confirm:
            self.post("operator", reverse("imports:job_confirm", args=[job.pk]))
            job.refresh_from_db()
            assert job.status == "completed", (job.status, job.error)
        return job


PLAN = """# {title}

## Prepare

- [ ] Announce the window
- [ ] Back up the database
- [ ] Freeze deploys
{extra}
## Ship

- [ ] Promote the build
- [ ] Smoke test

## Rollback

Promote the previous build.
"""


def expect_event(action: str, **filters) -> AuditEvent:
    event = AuditEvent.objects.filter(action=action, **filters).order_by("-seq").first()
    assert event is not None, f"no audit event {action} {filters}"
    return event


# --- The INPUTS table ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    id: str
    doc: str
    plant: Callable[[Portal, leakhunt.Maker], None]


INPUTS: list[Input] = []


def leak_input(doc: str):
    def register(fn):
        INPUTS.append(Input(fn.__name__.removeprefix("plant_").replace("_", "-"), doc, fn))
        return fn

    return register


SHORT = ("stripe", "db_url", "session", "convex")  # fits a 500-character reason
TINY = ("stripe", "db_url")  # fits a 300-character description


def dotenv(m: leakhunt.Maker, where: str) -> str:
    """A .env with each credential shape the issue names, under the names teams give them."""
    values = {
        "STRIPE_SECRET_KEY": "stripe", "CLERK_WEBHOOK_SECRET": "whsec", "DATABASE_URL": "db_url",
        "SLACK_WEBHOOK_URL": "slack", "DISCORD_WEBHOOK_URL": "discord",
        "DISCORD_WEBHOOK_SECRET": "discord", "TELEGRAM_ALERT_URL": "telegram",
        "SENTRY_DSN": "sentry", "CONVEX_DEPLOY_KEY": "convex", "SESSION_SECRET": "hex32",
        "HEARTBEAT_URL": "token_url", "PAYMENTS_API_URL": "basic_url",
        # credentials by value only: names that say nothing
        "UPTIME_PING": "heartbeat_path", "ALERTS_ENDPOINT": "teams",
        "NOTIFY_TARGET": "webhook_path", "BACKUP_TARGET": "db_url", "ERRORS_ENDPOINT": "sentry",
    }  # fmt: skip
    lines = [f"{key}={m.make(f'{key} ({where})', shape)}" for key, shape in values.items()]
    lines += ["NEXT_PUBLIC_SITE_URL=https://acme.example.com", "MAIL_FROM=ops@acme.app"]
    return "# exported for the leak test\n" + "\n".join(lines) + "\n"


def _keys(dotenv_text: str) -> list[str]:
    return [line.split("=", 1)[0] for line in dotenv_text.splitlines() if "=" in line]


def public_then_credential(m: leakhunt.Maker, where: str) -> tuple[str, str]:
    """Variables first imported as plain URLs, then with a credential in them."""
    first = (
        "REDIS_URL=redis://cache.example.com:6379\n"
        "STATUS_URL=https://status.example.com/api/ping\n"
        "BILLING_API_URL=https://api.example.com/v1\n"
    )
    second = (
        f"REDIS_URL={m.make(f'REDIS_URL now with a password ({where})', 'redis_url')}\n"
        f"STATUS_URL={m.make(f'STATUS_URL now with ?token= ({where})', 'token_url')}\n"
        f"BILLING_API_URL={m.make(f'BILLING_API_URL with user:password@ ({where})', 'basic_url')}\n"
    )
    return first, second


# .env import, browser and CLI ------------------------------------------------------------------
@leak_input(".env uploaded in the browser into an unprotected environment, applied")
def plant_env_web_upload(p: Portal, m):
    env = p.env("web-dev")
    p.env_import(env, dotenv(m, "web upload"))
    expect_event("env.import.applied", environment=env)


@leak_input(".env uploaded into production: change request, approved by another person")
def plant_env_web_upload_protected(p: Portal, m):
    p.env_import(p.prod, dotenv(m, "web upload, prod"), reason="release 42")
    cr = ChangeRequest.objects.filter(environment=p.prod).order_by("-pk").first()
    p.approve(cr)
    expect_event("env.import.applied", environment=p.prod)


@leak_input(".env pasted with every credential key listed under 'Not secret'")
def plant_env_web_public_keys(p: Portal, m):
    env = p.env("web-public", Tier.STAGING)
    text = dotenv(m, "pasted, listed as not secret")
    p.env_import(env, text, upload=False, public_keys=",".join(_keys(text)))
    expect_event("env.import.applied", environment=env)


@leak_input(
    "32-hex secrets from the low end of real draws (3.30-3.45 bits per character, one "
    "`openssl rand -hex 16` in ten): SESSION_SECRET listed as not secret, and a neutral name"
)
def plant_env_web_low_entropy_hex(p: Portal, m):
    env = p.env("web-hex")
    text = (
        f"SESSION_SECRET={m.make('SESSION_SECRET listed as not secret', 'hex32_low')}\n"
        f"INSTANCE_SEED={m.make('INSTANCE_SEED', 'hex32_low')}\n"
    )
    p.env_import(env, text, upload=False, public_keys="SESSION_SECRET")
    expect_event("env.import.applied", environment=env)


@leak_input("browser imports: variables public at first, a credential arrives in a later import")
def plant_env_web_credential_arrives_later(p: Portal, m):
    env = p.env("web-later")
    first, second = public_then_credential(m, "web")
    p.env_import(env, first)
    p.env_import(env, second)
    assert AuditEvent.objects.filter(action="env.import.applied", environment=env).count() == 2


@leak_input("reason typed with a browser import into production (change request left pending)")
def plant_env_web_import_reason(p: Portal, m):
    p.env_import(p.prod, "RELEASE_CHANNEL=stable\n", reason=m.prose("import reason", SHORT))
    assert ChangeRequest.objects.filter(environment=p.prod, status="pending").exists()


@leak_input("a browser import previewed and never applied: the preview waits in the session")
def plant_env_web_abandoned_preview(p: Portal, m):
    env = p.env("web-abandoned")
    text = dotenv(m, "previewed, never applied")
    data = {"text": text, "format": "auto", "reason": m.prose("abandoned import reason", SHORT)}
    client = p.clients["operator"]
    response = client.post(reverse("environments:env_import", args=[env.pk]), data)
    assert response.status_code == 302, response.status_code
    preview = client.get(response["Location"])
    where = f"GET {response['Location']} (import preview, abandoned) as operator"
    p.census.scan("page", where, leakhunt.response_text(preview))
    assert preview.status_code == 200 and not env.variables.exists()


@leak_input("a 500 inside the env import view with DEBUG=True (Django's technical 500 page)")
def plant_env_web_500_debug(p: Portal, m):
    client = Client(raise_request_exception=False)
    client.force_login(p.users["operator"])
    text = dotenv(m, "posted to a crashing import")
    url = reverse("environments:env_import", args=[p.dev.pk])
    crash = RuntimeError("simulated crash while parsing the import")
    with (
        override_settings(DEBUG=True),
        mock.patch("environments.services.import_plan", side_effect=crash),
    ):
        response = client.post(url, {"text": text, "format": "auto", "reason": ""})
    assert response.status_code == 500, response.status_code
    body = leakhunt.response_text(response)
    p.census.scan("500 page", f"POST {url} with DEBUG=True (technical 500)", body)


@leak_input("manage.py env_import of a .env file (dry run --json, then applied)")
def plant_env_cli(p: Portal, m):
    path = p.tmp / "cli.env"
    path.write_text(dotenv(m, "env_import"))
    common = [str(path), "--project", p.project.slug, "--environment", "cli-qa", "--as", "otto"]
    p.command("env_import", *common, "--tier", "development", "--dry-run", "--json")
    p.command("env_import", *common, "--tier", "development")
    expect_event("env.import.applied", environment__name="cli-qa")


@leak_input("manage.py env_import --public KEY for keys whose values are credentials")
def plant_env_cli_public(p: Portal, m):
    path = p.tmp / "cli-public.env"
    text = dotenv(m, "env_import --public")
    path.write_text(text)
    public = []
    for key in _keys(text):
        public += ["--public", key]
    p.command("env_import", str(path), "--project", p.project.slug, "--environment",
              "cli-public", "--tier", "staging", "--as", "otto", *public, "--json")  # fmt: skip
    expect_event("env.import.applied", environment__name="cli-public")


@leak_input("manage.py env_import: REDIS_URL etc. public first, then with a password")
def plant_env_cli_credential_arrives_later(p: Portal, m):
    first, second = public_then_credential(m, "env_import")
    for n, text in enumerate((first, second)):
        path = p.tmp / f"cli-later-{n}.env"
        path.write_text(text)
        p.command("env_import", str(path), "--project", p.project.slug, "--environment",
                  "cli-later", "--tier", "development", "--as", "otto")  # fmt: skip
    events = AuditEvent.objects.filter(action="env.import.applied", environment__name="cli-later")
    assert events.count() == 2


@leak_input("manage.py env_import --reason into production")
def plant_env_cli_reason(p: Portal, m):
    path = p.tmp / "cli-reason.env"
    path.write_text("RELEASE_TRAIN=blue\n")
    p.command("env_import", str(path), "--project", p.project.slug, "--environment", "prod",
              "--as", "otto", "--reason", m.prose("env_import --reason", SHORT))  # fmt: skip
    assert ChangeRequest.objects.filter(environment=p.prod, status="pending").exists()


# environments: free text -------------------------------------------------------------------------
@leak_input("project description, on creation and on edit")
def plant_project_description(p: Portal, m):
    url = reverse("environments:project_create")
    p.post("operator", url, {"name": "side.project", "slug": "",
                             "description": m.prose("new project description")})  # fmt: skip
    side = Project.objects.get(name="side.project")
    expect_event("project.created", target_id=str(side.pk))
    url = reverse("environments:project_edit", args=[side.slug])
    p.post("operator", url, {"name": "side.project", "slug": side.slug,
                             "description": m.prose("edited project description")})  # fmt: skip
    expect_event("project.updated", target_id=str(side.pk))


def env_form(env: Environment | None, **fields) -> dict:
    data = {"name": "", "tier": Tier.DEVELOPMENT, "branch": "", "url": "", "protected": "default",
            "maintenance_window": "", "notes": "", "reason": ""}  # fmt: skip
    if env is not None:
        data.update(name=env.name, tier=env.tier, branch=env.branch, url=env.url,
                    protected="yes" if env.protected else "no",
                    maintenance_window=env.maintenance_window, notes=env.notes)  # fmt: skip
    return {**data, **fields}


@leak_input("environment notes, maintenance window and a URL with user:password@")
def plant_environment_fields(p: Portal, m):
    url = reverse("environments:environment_create", args=[p.project.slug])
    data = env_form(
        None, name="feature-x", notes=m.prose("environment notes"),
        maintenance_window=m.make("environment maintenance window", "session"),
        url=m.make("environment URL", "basic_url"),
    )  # fmt: skip
    p.post("operator", url, data)
    expect_event("environment.created", target_repr__contains="feature-x")


@leak_input("production settings edit: notes and reason (change request left pending)")
def plant_environment_edit_protected(p: Portal, m):
    url = reverse("environments:environment_edit", args=[p.prod.pk])
    data = env_form(p.prod, notes=m.prose("prod notes (change request)"),
                    reason=m.prose("prod settings reason", SHORT))  # fmt: skip
    p.post("operator", url, data)
    assert ChangeRequest.objects.filter(environment=p.prod, kind="settings").exists()


@leak_input("provider deployment: identifier holding a deploy key, URL with a token, reason")
def plant_deployment_fields(p: Portal, m):
    url = reverse("environments:deployment_add", args=[p.dev.pk])
    # A deploy key typed as the identifier is refused (shown back only to whoever typed it)…
    refused = {"provider": "convex", "identifier": m.make("deployment identifier", "convex"),
               "url": "", "reason": ""}  # fmt: skip
    p.post("operator", url, refused, expect=200)
    # …and the deployment added with its name keeps the URL's token and the reason masked.
    data = {"provider": "convex", "identifier": "dev:wary-ferret-59",
            "url": m.make("deployment URL", "token_url"),
            "reason": m.prose("deployment reason", SHORT)}  # fmt: skip
    p.post("operator", url, data)
    expect_event("environment.deployment.added", environment=p.dev)


@leak_input("removing production's deployment: reason (change request left pending)")
def plant_deployment_remove_reason(p: Portal, m):
    dep = p.prod.deployments.get()
    url = reverse("environments:deployment_remove", args=[dep.pk])
    p.post("operator", url, {"reason": m.prose("deployment removal reason", SHORT)})
    assert ChangeRequest.objects.filter(environment=p.prod, status="pending").exists()


@leak_input("variable form: description, example, owner, source and reason")
def plant_configvar_text_fields(p: Portal, m):
    url = reverse("environments:configvar_create", args=[p.dev.pk])
    data = {"key": "APP_MODE", "value": "blue", "secret": "no", "required": "",
            "description": m.prose("variable description", TINY),
            "example": m.make("variable example", "session"),
            "owner": m.make("variable owner", "slack"),
            "source": m.make("variable source", "sentry"),
            "rotation_period_days": "", "reason": m.prose("variable reason", SHORT)}  # fmt: skip
    p.post("operator", url, data)
    expect_event("configvar.created", environment=p.dev, target_repr__contains="APP_MODE")


@leak_input("variable form values: webhook URLs and a DSN, 'auto' or marked not secret")
def plant_configvar_values_by_form(p: Portal, m):
    url = reverse("environments:configvar_create", args=[p.dev.pk])
    for key, shape, secret in (
        ("SLACK_WEBHOOK_URL", "slack", "auto"),
        ("ALERTS_HOOK", "discord", "no"),
        ("SENTRY_DSN", "sentry", "no"),
        ("DATABASE_URL", "db_url", "no"),
        ("TELEGRAM_NOTIFY", "telegram", "auto"),
    ):
        value = m.make(f"{key} (variable form, secret={secret})", shape)
        data = {"key": key, "value": value, "secret": secret, "description": "",
                "example": "", "owner": "", "source": "", "reason": ""}  # fmt: skip
        p.post("operator", url, data)
    data = {"key": "REDIS_URL", "value": "redis://cache.example.com:6379", "secret": "auto"}
    p.post("operator", url, {**data, "description": "", "reason": ""})
    var = p.dev.variables.get(key="REDIS_URL")
    p.edit_var(
        var, value=m.make("REDIS_URL edited to carry a password", "redis_url"), marked="auto"
    )
    assert (
        AuditEvent.objects.filter(environment=p.dev, action__startswith="configvar.").count() >= 7
    )


@leak_input("editing a production variable: description and reason (change request pending)")
def plant_configvar_edit_protected(p: Portal, m):
    var = p.prod.variables.get(key="LOG_LEVEL")
    p.edit_var(var, value="debug", description=m.prose("prod variable description", TINY),
               reason=m.prose("prod variable edit reason", SHORT))  # fmt: skip
    assert ChangeRequest.objects.filter(environment=p.prod, summary__contains="LOG_LEVEL").exists()


@leak_input("rotating a variable: the new value and the reason")
def plant_configvar_rotate(p: Portal, m):
    var = p.dev.variables.get(key="WEBHOOK_SIGNING_SECRET")
    url = reverse("environments:configvar_rotate", args=[var.pk])
    data = {
        "new_value": m.make("rotated value", "whsec"),
        "reason": m.prose("rotation reason", SHORT),
    }
    p.post("operator", url, data)
    expect_event("configvar.rotated", environment=p.dev)


@leak_input("deleting a production variable: reason (change request pending)")
def plant_configvar_delete_reason(p: Portal, m):
    var = p.prod.variables.get(key="API_TOKEN")
    url = reverse("environments:configvar_delete", args=[var.pk])
    p.post("operator", url, {"confirm": "API_TOKEN", "reason": m.prose("deletion reason", SHORT)})
    assert ChangeRequest.objects.filter(environment=p.prod, summary__contains="API_TOKEN").exists()


def _change_request(p: Portal, key: str, value: str) -> ChangeRequest:
    p.edit_var(p.prod.variables.get(key=key), value=value, reason=f"set {key}")
    return ChangeRequest.objects.filter(environment=p.prod, status="pending").order_by("-pk")[0]


@leak_input("change request approved with a reason")
def plant_changerequest_approve_reason(p: Portal, m):
    cr = _change_request(p, "FEATURE_FLAGS", "a,b,c")
    p.approve(cr, reason=m.prose("approval reason", SHORT))
    expect_event("changerequest.approved", target_id=str(cr.pk))


@leak_input("change request rejected with a reason")
def plant_changerequest_reject_reason(p: Portal, m):
    cr = _change_request(p, "CACHE_TTL", "120")
    url = reverse("environments:changerequest_decide", args=[cr.pk, "reject"])
    p.post("approver", url, {"reason": m.prose("rejection reason", SHORT)})
    expect_event("changerequest.rejected", target_id=str(cr.pk))


@leak_input("change request withdrawn by its author with a reason")
def plant_changerequest_withdraw_reason(p: Portal, m):
    cr = _change_request(p, "MAIL_FROM", "noreply@acme.app")
    url = reverse("environments:changerequest_decide", args=[cr.pk, "withdraw"])
    p.post("operator", url, {"reason": m.prose("withdrawal reason", SHORT)})
    expect_event("changerequest.withdrawn", target_id=str(cr.pk))


# runbooks -----------------------------------------------------------------------------------------
@leak_input("runbook Markdown: a step body, a command block and the rollback section")
def plant_runbook_markdown(p: Portal, m):
    extra = (
        f"- [ ] Export the key: STRIPE_SECRET_KEY={m.make('plan step body', 'stripe')}\n"
        "  ```bash\n"
        f"  psql \"{m.make('plan command block', 'db_url')}\" -c 'select 1'\n"
        f"  curl -X POST {m.make('plan command block', 'slack')}\n"
        "  ```\n"
    )
    text = PLAN.format(title="Keys plan", extra=extra).replace(
        "Promote the previous build.",
        f"Promote the previous build; SESSION_SECRET={m.make('plan rollback', 'hex32')}",
    )
    version = p.runbook_import(text)
    expect_event("runbook.imported", target_id=str(version.pk))


@leak_input("runbook step edit: title and body")
def plant_runbook_step_edit(p: Portal, m):
    version = p.runbook_import(PLAN.format(title="Step edit plan", extra=""))
    p.step_edit(version, "Freeze deploys", body=m.prose("step body"))
    version = p.step_edit(version, "Back up the database",
                          body="", title=m.prose("step title", ("stripe", "session")))  # fmt: skip
    assert version.number == 3


@leak_input("sign-off note and evidence text (pasted command output)")
def plant_runbook_sign(p: Portal, m):
    run = p.start_run(p.dev)
    sr = p.step_action(run, "Back up the database", "sign", note=m.prose("sign-off note"),
                       evidence_text=m.prose("evidence text") + "\n$ env\n"
                       + dotenv(m, "pasted evidence"))  # fmt: skip
    assert sr.status == "done"
    expect_event("runbook.step.signed_off", target_id=str(sr.pk))


@leak_input("second sign-off note on a protected environment")
def plant_runbook_second_sign(p: Portal, m):
    run = p.start_run(p.prod)
    p.step_action(run, "Announce the window", "sign", note="announced")
    sr = p.step_action(run, "Announce the window", "second", role="approver",
                       note=m.prose("second sign-off note"))  # fmt: skip
    assert sr.status == "done"
    expect_event("runbook.step.second_signed", target_id=str(sr.pk))


@leak_input("skip reason")
def plant_runbook_skip_reason(p: Portal, m):
    run = p.start_run(p.dev)
    sr = p.step_action(run, "Freeze deploys", "skip", note=m.prose("skip reason"))
    assert sr.status == "skipped"
    expect_event("runbook.step.skipped", target_id=str(sr.pk))


@leak_input("fail note")
def plant_runbook_fail_note(p: Portal, m):
    run = p.start_run(p.dev)
    sr = p.step_action(run, "Freeze deploys", "fail", note=m.prose("fail note"))
    assert sr.status == "failed"
    expect_event("runbook.step.failed", target_id=str(sr.pk))


@leak_input("run abort reason")
def plant_runbook_abort_reason(p: Portal, m):
    run = p.start_run(p.dev)
    url = reverse("runbooks:run_abort", args=[run.pk])
    p.post("operator", url, {"reason": m.prose("abort reason")})
    run.refresh_from_db()
    assert run.status == "aborted"
    expect_event("runbook.run.aborted", target_id=str(run.pk))


@leak_input("automated HTTP check of a URL with user:password@ and ?token= (local server)")
def plant_runbook_http_check(p: Portal, m):
    env = p.env("checks")
    Environment.objects.filter(pk=env.pk).update(url=p.stub_url)
    version = p.runbook_import(PLAN.format(title="Check plan", extra=""))
    password = m.make("check URL password", "token")
    token = m.make("check URL ?token=", "token")
    stub = p.stub_url.removeprefix("http://")
    check_url = f"http://svc:{password}@{stub}/ok?token={token}"
    version = p.step_edit(version, "Freeze deploys", check_type="http", url=check_url,
                          expected_status="200", timeout="5")  # fmt: skip
    run = p.start_run(env, version)
    sr = p.step_action(run, "Freeze deploys", "check")
    # the portal may well refuse a URL with a password in it: the check then fails, and its
    # result must not repeat the URL either
    assert sr.check_status in ("passed", "failed"), sr.check_status
    assert AuditEvent.objects.filter(
        action__in=["runbook.check.passed", "runbook.check.failed"], target_id=str(sr.pk)
    ).exists()
    assert sr.check_status == "failed" or sr.check_result["figures"].get("status") == 200


# imports ------------------------------------------------------------------------------------------
USERS_HEADER = ["User ID", "name", "email", "phone", "address", "affiliate", "group"]
ORDERS_HEADER = ["INV", "product", "created_at", "name", "email", "phone", "quantity", "price",
                 "status", "affiliate", "affiliate_id", "address", "payment", "courier",
                 "variant", "notes"]  # fmt: skip


def _order(inv, email, phone, notes, address="-"):
    return [inv, "Kelas Ekspor Pemula", "2025-03-01 10:00:00", "Budi Santoso", email, phone, 1,
            "150000.00", "Selesai", 0, "", address, "Manual", "-", "-", notes]  # fmt: skip


@leak_input("import file cells: a member's address and group, an order's notes, payment and "
            "courier, a rejected row's notes")  # fmt: skip
def plant_import_csv_cells(p: Portal, m):
    users = php_csv(USERS_HEADER, [
        [9001, "Budi Santoso", "budi.leak@example.id", "081234500001",
         f"Jl. Merdeka 1, kunci {m.make('users.csv address cell', 'stripe')}", "-",
         f"VIP {m.make('users.csv group cell', 'stripe')}"],
        [9002, "Sari Dewi", "sari.leak@example.id", "081234500002", "-", "-", "-"],
    ])  # fmt: skip
    p.upload("users.csv", users)
    notes = f"transfer ok, token {m.make('orders.csv notes cell', 'db_url')}"
    paid = _order(91001, "budi.leak@example.id", "081234500001", notes)
    paid[12] = f"Manual {m.make('orders.csv payment cell', 'stripe')}"
    paid[13] = f"JNE {m.make('orders.csv courier cell', 'session')}"
    orders = php_csv(ORDERS_HEADER, [
        paid,
        _order(91002, "", "", f"no contact; {m.make('rejected row notes cell', 'session')}",
               address=m.make("rejected row address cell", "token_url")),
    ])  # fmt: skip
    job = p.upload("orders.csv", orders)
    assert job.rejected_count == 1 and job.row_errors.exclude(raw={}).exists()
    expect_event("import.job.confirmed", job_id=job.pk)


@leak_input("import job cancelled with a reason")
def plant_import_cancel_reason(p: Portal, m):
    users = php_csv(USERS_HEADER, [[9101, "Ayu", "ayu.leak@example.id", "081234500101", "-", "-",
                                    "-"]])  # fmt: skip
    job = p.upload("users-cancel.csv", users, confirm=False)
    url = reverse("imports:job_cancel", args=[job.pk])
    p.post("operator", url, {"reason": m.prose("cancel reason", SHORT)})
    expect_event("import.job.cancelled", job_id=job.pk)


@leak_input("import job rolled back with a reason")
def plant_import_rollback_reason(p: Portal, m):
    users = php_csv(USERS_HEADER, [[9201, "Rudi", "rudi.leak@example.id", "081234500201", "-",
                                    "-", "-"]])  # fmt: skip
    job = p.upload("users-rollback.csv", users)
    url = reverse("imports:job_rollback", args=[job.pk])
    p.post("operator", url, {"confirm": str(job.pk), "reason": m.prose("rollback reason", SHORT)})
    job.refresh_from_db()
    assert job.status == "rolled_back", job.status
    expect_event("import.job.rolled_back", job_id=job.pk)


@leak_input("review item (possible duplicate member) decided with a note")
def plant_import_review_note(p: Portal, m):
    users = php_csv(USERS_HEADER, [
        [9301, "Tono", "tono.leak@example.id", "081234500301", "-", "-", "-"],
        [9302, "Tini", "tini.leak@example.id", "081234500301", "-", "-", "-"],
    ])  # fmt: skip
    p.upload("users-twins.csv", users)
    twins = ["tono.leak@example.id", "tini.leak@example.id"]
    item = ReviewItem.objects.open().get(kind="duplicate_member", member__email__in=twins)
    url = reverse("imports:review_decide", args=[item.pk])
    p.post("approver", url, {"decision": "verified", "note": m.prose("review note")})
    item.refresh_from_db()
    assert item.status == "verified"
    expect_event("import.review.verified", target_id=str(item.pk))


@leak_input("product settings edited with a reason")
def plant_import_product_reason(p: Portal, m):
    products = php_csv(["product_id", "product", "price", "commission", "access_days"],
                       [[7001, "Kelas Leak", "99000.00", "20%", 30]])  # fmt: skip
    p.upload("products.csv", products)
    product = Product.objects.get(name="Kelas Leak")
    url = reverse("imports:product_edit", args=[product.pk])
    data = {"price": "120.000", "commission_kind": "percent", "commission_value": "20",
            "access_days": "30", "reason": m.prose("product edit reason", SHORT)}  # fmt: skip
    p.post("operator", url, data)
    expect_event("import.product.updated", target_id=str(product.pk))


@leak_input("welcome e-mail campaign: body typed in the form, previewed, sent; a cancel reason")
def plant_mailing_campaign(p: Portal, m):
    from mailings.models import Campaign

    users = php_csv(USERS_HEADER, [[9401, "Wati", "wati.leak@example.id", "081234500401", "-",
                                    "-", "-"]])  # fmt: skip
    job = p.upload("users-welcome.csv", users)
    body = f"Halo {{{{ first_name }}}},\n{m.prose('campaign body template')}\n"
    for name in ("Welcome leak", "Welcome leak, cancelled"):
        data = {"name": name, "job": job.pk, "subject_template": "Welcome {{ first_name }}",
                "body_template": body, "rate": "0"}  # fmt: skip
        p.post("operator", reverse("mailings:campaign_create"), data)
    sent, dropped = Campaign.objects.filter(name__startswith="Welcome leak").order_by("pk")
    p.post("operator", reverse("mailings:campaign_dry_run", args=[sent.pk]))
    p.post("operator", reverse("mailings:campaign_start", args=[sent.pk]), {"confirm": sent.pk})
    url = reverse("mailings:campaign_cancel", args=[dropped.pk])
    p.post("operator", url, {"reason": m.prose("campaign cancel reason", SHORT)})
    expect_event("mailing.campaign.started", target_id=str(sent.pk))
    expect_event("mailing.campaign.cancelled", target_id=str(dropped.pk))


# compliance -----------------------------------------------------------------------------------
@leak_input("rotation campaign: title and reason typed at its start, a waiver, the closing note")
def plant_compliance_campaign(p: Portal, m):
    from compliance.models import RotationCampaign

    data = {"title": f"Rotate {m.make('campaign title', 'stripe')}", "scope": "environment",
            "environment": p.dev.pk, "project": "", "kind": "", "user": "",
            "owner": p.users["operator"].pk,
            "due_date": (timezone.localdate() + timedelta(days=14)).isoformat(),
            "reason": m.prose("campaign reason")}  # fmt: skip
    p.post("operator", reverse("compliance:campaign_create"), data)
    campaign = RotationCampaign.objects.order_by("-pk").first()
    item = campaign.items.order_by("pk").first()
    url = reverse("compliance:item_waive", args=[campaign.pk, item.pk])
    p.post("operator", url, {"reason": m.prose("waiver reason")})
    url = reverse("compliance:campaign_close", args=[campaign.pk])
    p.post("operator", url, {"note": m.prose("campaign closing note")})
    # the campaign is the event's target; the item is named in its changes
    waived = expect_event("rotation.item.waived", target_id=str(campaign.pk))
    assert waived.changes["item"] == item.pk
    expect_event("rotation.campaign.closed", target_id=str(campaign.pk))


@leak_input("access review: a line decided with a note")
def plant_compliance_access_review(p: Portal, m):
    from compliance.models import AccessReview

    today = timezone.localdate()
    data = {"period_start": (today - timedelta(days=90)).isoformat(),
            "period_end": today.isoformat()}  # fmt: skip
    p.post("admin", reverse("compliance:review_start"), data)
    review = AccessReview.objects.order_by("-pk").first()
    line = review.lines.order_by("pk").first()
    url = reverse("compliance:line_decide", args=[review.pk, line.pk])
    p.post("admin", url, {"decision": "keep", "note": m.prose("access review note")})
    # the review is the event's target; the line is named by its login in the changes
    decided = expect_event("access_review.line.decided", target_id=str(review.pk))
    assert decided.changes["user"] == line.username


# operations -----------------------------------------------------------------------------------
@leak_input("recurring run: a refused cron expression, pause, resume and delete reasons")
def plant_operations_schedule(p: Portal, m):
    from operations.models import RunSchedule

    version = p.runbook_version()
    form = {"runbook": version.runbook.pk, "environment": p.dev.pk,
            "owner": p.users["operator"].pk, "frequency": "weekly", "at_time": "09:00",
            "weekday": 0, "day_of_month": 1, "cron": "", "grace_hours": 24,
            "starts_at": ""}  # fmt: skip
    url = reverse("operations:schedule_create")
    refused = {**form, "frequency": "cron", "cron": m.make("cron expression", "stripe")}
    p.post("operator", url, refused, expect=200)  # shown back only to whoever typed it
    before = set(RunSchedule.objects.values_list("pk", flat=True))
    p.post("operator", url, form)
    schedule = RunSchedule.objects.exclude(pk__in=before).get()
    for action, label in (("pause", "pause"), ("resume", "resume"), ("delete", "deletion")):
        url = reverse(f"operations:schedule_{action}", args=[schedule.pk])
        p.post("operator", url, {"reason": m.prose(f"schedule {label} reason", SHORT)})
    expect_event("schedule.deleted", target_id=str(schedule.pk))


# deployments and the API ------------------------------------------------------------------------
@leak_input("API token named on its page; a deployment posted with it (ref, URL, links); "
            "marked rolled back with a reason")  # fmt: skip
def plant_deployment_api_and_rollback(p: Portal, m):
    from deployments.models import Deployment

    client = p.clients["operator"]
    data = {"name": f"ci {m.make('API token name', 'stripe')}",
            "scopes": ["deployments:write", "read"], "expires_days": 30}  # fmt: skip
    response = client.post(reverse("api_tokens:mine"), data)
    assert response.status_code == 200 and response.context["new"], response.status_code
    p.census.scan("page", "POST /accounts/tokens/ (new token)", leakhunt.response_text(response))
    raw = response.context["new"]["raw"]
    body = {"environment": f"{p.project.slug}/{p.dev.name}", "sha": "ab12cd34" * 5,
            "status": "success", "ref": f"release {m.make('deployment ref', 'session')}",
            "external_id": "run-4242", "url": m.make("deployment URL (API)", "basic_url"),
            "provider": "other",
            "links": {"logs": m.make("deployment link (API)", "token_url")}}  # fmt: skip
    api = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.post("/api/deployments", json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content[:500]
    p.census.scan("export", "POST /api/deployments (answer)", response.content.decode())
    deployment = Deployment.objects.get(external_id="run-4242")
    url = reverse("deployments:deployment_rolled_back", args=[deployment.pk])
    p.post("operator", url, {"reason": m.prose("rolled back reason")})
    expect_event("api.token.created")
    expect_event("deployment.rolled_back", target_id=str(deployment.pk))


# notifications -------------------------------------------------------------------------------
@leak_input("notification channel: its name, and its webhook URL (a secret, kept encrypted)")
def plant_notification_channel(p: Portal, m):
    from notifications.models import Channel

    data = {"name": f"ops {m.make('channel name', 'stripe')}", "kind": "slack",
            "url": m.make("channel webhook URL", "slack"), "project": "",
            "enabled": ""}  # fmt: skip
    p.post("admin", reverse("notifications:channel_create"), data)
    channel = Channel.objects.order_by("-pk").first()
    data = {**data, "name": f"ops {m.make('channel name, edited', 'whsec')}", "url": ""}
    p.post("admin", reverse("notifications:channel_edit", args=[channel.pk]), data)
    expect_event("notification.channel.updated", target_id=str(channel.pk))


# sejolisync ---------------------------------------------------------------------------------------
@leak_input("Sejoli hook: processing switched off with a reason, a delivery whose fields and "
            "body hold credentials, replayed with a reason")  # fmt: skip
def plant_sejoli_hook(p: Portal, m):
    from sejolisync.models import Delivery, ShopHook

    created = json.loads(p.command("sejoli_hook", "create", "--name", "leak shop", "--json"))
    hook = ShopHook.objects.get(pk=created["id"])
    url = reverse("sejolisync:hook_switch", args=[hook.pk])
    p.post("operator", url, {"reason": m.prose("hook switch reason", SHORT)})
    fields = {"order_id": "77001", "order_status": "completed", "product_name": "Kelas Leak",
              "buyer_name": "Budi", "buyer_email": "budi.sejoli@example.id",
              "note": f"paid, key {m.make('delivery note field', 'stripe')}",
              "address": m.make("delivery address field", "db_url")}  # fmt: skip
    response = Client().post(created["url"], json.dumps(fields), content_type="application/json")
    assert response.status_code == 202, response.content[:300]
    delivery = Delivery.objects.filter(hook=hook).order_by("-pk").first()
    assert delivery.state == "skipped", delivery.state
    data = {"processing": "on", "reason": m.prose("hook switched on again", SHORT)}
    p.post("operator", reverse("sejolisync:hook_switch", args=[hook.pk]), data)
    url = reverse("sejolisync:delivery_replay", args=[delivery.pk])
    p.post("operator", url, {"reason": m.prose("delivery replay reason", SHORT)})
    expect_event("sejolisync.delivery.replayed")


# accounts -----------------------------------------------------------------------------------------
@leak_input("failed logins: the password typed into the username box, and as the password")
def plant_login_failure(p: Portal, m):
    client = Client(raise_request_exception=False)
    url = reverse("login")
    response = client.post(url, {"username": m.make("password typed as username", "password"),
                                 "password": "whatever-1"})  # fmt: skip
    assert response.status_code == 200
    response = client.post(url, {"username": "otto",
                                 "password": m.make("mistyped password", "password")})  # fmt: skip
    assert response.status_code == 200
    p.census.scan("page", f"POST {url} (failed login)", leakhunt.response_text(response))
    assert AuditEvent.objects.filter(action="auth.login.failed").count() >= 2


# --- Planting and searching, once for the module ------------------------------------------------
class StubHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        body = b'{"status": "healthy"}' if self.path.startswith("/ok") else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _seeds(p: Portal, *, exports: bool) -> list[str]:
    """Where the crawl starts: the navigation and the lists with each filter; with ``exports``,
    every export and download too (links lead to them as well, but not to all of them)."""
    seeds = [
        reverse("dashboard"), reverse("environments:project_list"),
        reverse("environments:changerequest_list"), reverse("audit:event_list"),
        reverse("audit:export_csv"), reverse("audit:export_json"),
        reverse("runbooks:runbook_list"), reverse("imports:job_list"),
        reverse("imports:review_list") + "?status=", reverse("imports:member_list"),
        reverse("imports:order_list"), reverse("imports:product_list"),
        reverse("mailings:campaign_list"), reverse("compliance:index"),
        reverse("operations:schedule_list"), reverse("operations:calendar"),
        reverse("deployments:ledger"), reverse("deployments:dora"),
        reverse("notifications:channel_list"), reverse("notifications:delivery_log"),
        reverse("notifications:waiting"), reverse("sejolisync:hook_list"),
        reverse("api_tokens:mine"),
    ]  # fmt: skip
    for status in ("pending", "applied", "rejected", "withdrawn"):
        seeds.append(reverse("environments:changerequest_list") + f"?status={status}")
    for user in p.users.values():
        seeds.append(reverse("audit:operator_timeline", args=[user.username]))
    if not exports:
        return seeds
    for project in Project.objects.all():
        for fmt in ("env-example", "md", "csv"):
            seeds.append(reverse("environments:project_export", args=[project.slug, fmt]))
    compare = reverse("environments:project_compare", args=[p.project.slug])
    seeds.append(f"{compare}?source={p.dev.pk}&target={p.prod.pk}&format=md")
    for run in Run.objects.all():
        seeds += [reverse("runbooks:run_report", args=[run.pk]),
                  reverse("runbooks:run_report_md", args=[run.pk])]  # fmt: skip
    from compliance.models import AccessReview, RotationCampaign

    for campaign in RotationCampaign.objects.all():
        for fmt in ("csv", "md"):
            seeds.append(reverse("compliance:campaign_export", args=[campaign.pk, fmt]))
    for review in AccessReview.objects.all():
        for fmt in ("csv", "md"):
            seeds.append(reverse("compliance:review_export", args=[review.pk, fmt]))
    seeds.append(reverse("deployments:dora_csv"))
    for job in ImportJob.objects.all():
        seeds += [reverse("imports:job_errors", args=[job.pk]),
                  reverse("imports:job_rejected_rows", args=[job.pk])]  # fmt: skip
        seeds += [reverse("imports:job_report", args=[job.pk, f]) for f in ("csv", "xlsx", "json")]
    return seeds


def _admin_cap(route: str) -> int | None:
    """The admin reads every object of the portal's pages; an admin change page, an audit
    event's page, a variable's delete or rotate form only for a few (the rows they render are
    searched in the database and the audit exports)."""
    if route.startswith("/admin/") and route.endswith("/N/change/"):
        return 1
    return {"/audit/events/N/": 5, "/environments/variables/N/edit/": 5,
            "/environments/variables/N/delete/": 3, "/environments/variables/N/rotate/": 3,
            "/runbooks/steps/N/edit/": 6}.get(route)  # fmt: skip


def _role_cap(route: str) -> int | None:
    """Other roles read every list and one object of each kind (one variant of a filtered
    list): the same templates with their permissions; the data is read in full as the admin."""
    return 1


CANARY_SURFACES = ("page", "export", "database", "log", "django-q2", "session")


def _plant_canary(p: Portal, census: Census) -> None:
    """A sentinel put where the searchers must see it, one per surface: the proof that they
    can fail (a project name is shown, exported, stored and dumped by design)."""
    from django_q.tasks import async_task

    m = p.sentinels.for_input("canary")
    name = "canary-" + m.make("canary project name", "hex32")
    p.post("operator", reverse("environments:project_create"), {"name": name, "description": ""})
    session = p.clients["viewer"].session
    session["leakhunt"] = m.make("canary session value", "hex32")
    session.save()
    logging.getLogger("leakhunt.canary").debug("canary %s", m.make("canary log", "hex32"))
    async_task("builtins.len", m.make("canary task argument", "hex32"))


def _search(p: Portal, census: Census, handler, tmp_path) -> None:
    for role, client in p.clients.items():
        if role == "admin":
            seeds, cap, variants = [*_seeds(p, exports=True), "/admin/"], _admin_cap, 8
        else:
            seeds, cap, variants = _seeds(p, exports=False), _role_cap, 1
        for document in leakhunt.crawl(client, seeds, role=role, cap=cap, variants=variants):
            census.scan(*document)
    for document in leakhunt.database_rows(connection):
        census.scan(*document)
    for searcher in (leakhunt.django_q_documents, leakhunt.session_documents):
        for document in searcher():
            census.scan(*document)
    from django.conf import settings

    uploads = {job.file.name for job in ImportJob.objects.all()}
    for document in leakhunt.media_documents(settings.MEDIA_ROOT, skip=uploads):
        census.scan(*document)
    for document in leakhunt.log_documents(handler):
        census.scan(*document)
    if connection.vendor == "postgresql":
        dump = leakhunt.pg_dump(connection, tmp_path / "dump.sql")
        for document in leakhunt.dump_documents(dump):
            census.scan(*document)


@pytest.fixture(scope="module")
def census(django_db_setup, django_db_blocker, tmp_path_factory):
    """Plant every input (committed, as a running portal would), search every surface once."""
    tmp_path = tmp_path_factory.mktemp("leakhunt")
    sentinels = Sentinels()
    census = Census(sentinels)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), StubHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    overrides = override_settings(
        MEDIA_ROOT=tmp_path / "media",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        CHECK_ALLOWED_NETWORKS=["127.0.0.1/32"],  # the local stub server of the HTTP check
    )
    try:
        with django_db_blocker.unblock(), overrides, leakhunt.capture_all_logs() as handler:
            stub_url = f"http://127.0.0.1:{httpd.server_address[1]}"
            portal = Portal(sentinels, census, stub_url=stub_url, tmp=tmp_path)
            for item in INPUTS:
                try:
                    item.plant(portal, sentinels.for_input(item.id))
                except Exception as exc:  # the input's own test reports it
                    census.planting_errors[item.id] = f"{type(exc).__name__}: {exc}"
            _plant_canary(portal, census)
            try:
                _search(portal, census, handler, tmp_path)
            except Exception as exc:
                census.planting_errors["(search)"] = f"{type(exc).__name__}: {exc}"
                raise
        if os.environ.get("LEAKHUNT_REPORT"):  # every finding as JSON, for the fixers
            Path(os.environ["LEAKHUNT_REPORT"]).write_text(census.as_json())
        yield census
    finally:
        httpd.shutdown()
        httpd.server_close()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


def _params():
    params = []
    for item in INPUTS:
        marks = (
            [pytest.mark.xfail(strict=False, reason=ISSUE_11)] if item.id in LEAKING_TODAY else []
        )
        params.append(pytest.param(item.id, id=item.id, marks=marks))
    return params


def _assert_clean(census: Census, input_id: str, findings) -> None:
    assert input_id not in census.planting_errors, (
        f"planting {input_id} failed (fix the test's input, the portal changed): "
        f"{census.planting_errors[input_id]}"
    )
    planted = [s for s in census.sentinels.planted.values() if s.input_id == input_id]
    assert planted, f"{input_id} planted no sentinel"
    doc = next(i.doc for i in INPUTS if i.id == input_id)
    assert not findings, (
        f"issue 11: sentinels planted by {input_id!r} ({doc}) found in the clear:\n"
        + census.report(findings)
    )


@pytest.mark.slow
@pytest.mark.parametrize("input_id", _params())
def test_no_sentinel_anywhere(census, input_id):
    """Pages, exports, tables, audit rows, sessions, django-q2, logs, command output, media."""
    _assert_clean(census, input_id, census.for_input(input_id, exclude={"pg_dump"}))


@pytest.mark.slow
@pytest.mark.parametrize("input_id", _params())
def test_no_sentinel_in_pg_dump(census, postgres_only, input_id):
    """A plain ``pg_dump`` of the database holds none of the input's sentinels."""
    assert census.searched["pg_dump"], "the dump was not searched"
    _assert_clean(census, input_id, census.for_input(input_id, surfaces={"pg_dump"}))


@pytest.mark.slow
def test_the_searchers_see_a_planted_value_on_every_surface(census):
    """The canary is found on every surface (and in the dump on PostgreSQL): a search that
    finds nothing because it looks nowhere fails here."""
    assert "(search)" not in census.planting_errors, census.planting_errors["(search)"]
    found = {f.surface for f in census.findings if f.planted.input_id == "canary"}
    expected = set(CANARY_SURFACES) | ({"pg_dump"} if connection.vendor == "postgresql" else set())
    assert expected <= found, f"canary not found on {sorted(expected - found)}"
    for surface in ("page", "export", "database", "log", "django-q2", "session", "command output"):
        assert census.searched[surface] > 0, surface
    assert census.searched["page"] > 100, dict(census.searched)


def test_sentinel_cores_have_their_shapes_entropy():
    sentinels = Sentinels()
    for _ in range(20):
        low = leakhunt.entropy(sentinels.make("probe", "low", "hex32_low"))
        typical = leakhunt.entropy(sentinels.make("probe", "typical", "hex32"))
        assert leakhunt.LOW_HEX[0] <= low < leakhunt.LOW_HEX[1]
        assert typical >= leakhunt.TYPICAL_HEX[0]
    assert len(set(sentinels.head + sentinels.tail)) == 16


@pytest.mark.parametrize("tags", [("", ""), ("10293847", "06c2c01f")], ids=["random", "digits"])
def test_the_sentinels_name_themselves_when_cut(tags):
    sentinels = Sentinels(*tags)
    value = sentinels.make("probe", "probe label", "stripe")
    core = value.removeprefix("sk_live_51")
    census = Census(sentinels)
    census.scan("page", "whole", f"<td>{value}</td>")
    census.scan("page", "head only", f"<td>{value[:-15]}…</td>")
    census.scan("page", "tail only", f"<td>…{core[-12:]}</td>")
    census.scan("page", "upper case", value.upper())
    census.scan("page", "masked", f"*** fp:1234 …{value[-4:]}")
    assert [f.where for f in census.findings] == ["whole", "head only", "tail only", "upper case"]
    assert "<S000>" in census.report(census.findings)
    assert json.dumps(sentinels.redact(value)) == json.dumps("sk_live_51<S000>")
