"""The deployment guide's three environments — dev / preview / prod on Clerk, Convex and Stripe.

Each environment is loaded the way a team would: its file handed to ``env_import`` (dev's is the
``.env.local`` that ``npx convex dev`` writes, with its comment line and the ``# team: …,
project: …`` comment after ``CONVEX_DEPLOYMENT``; preview and prod are what Vercel holds),
production's import approved by a second person with ``change_request approve``, required flags
set through the services. Then ``env_check --json`` must report every mistake the guide warns
about, and nothing on the clean version of the same project.

Values are drawn per seed in each provider's shape (Stripe ``sk_test_51…``, Clerk ``pk_test_`` +
base64 of the frontend API host and ``$``, Svix ``whsec_`` + base64, Convex deploy keys
``prod:<name>|`` + base64 JSON, 32-byte hex secrets), so no fixed spelling is tested.
"""

import base64
import json
import random
import string
from collections import Counter
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from environments import services
from environments.models import ChangeRequest, Environment, Project
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

PROJECT = "secure-vibe.app"
ADJECTIVES = ["wary", "basic", "polite", "happy", "tall", "brave", "quiet", "sharing", "calm"]
ANIMALS = ["ferret", "oriole", "bulldog", "otter", "heron", "lynx", "moose", "whale", "crow"]


class Shapes:
    """Random values in the shapes the providers issue them."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.used = set()

    def _unique(self, make):
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def chars(self, n, alphabet=string.ascii_letters + string.digits):
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def convex_name(self):
        r = self.rng
        return self._unique(
            lambda: f"{r.choice(ADJECTIVES)}-{r.choice(ANIMALS)}-{r.randint(1, 999)}"
        )

    def deploy_key(self, kind, name):
        body = json.dumps({"v2": self.chars(32, "0123456789abcdef")}, separators=(",", ":"))
        return f"{kind}:{name}|{base64.b64encode(body.encode()).decode()}"

    def stripe(self, prefix, mode):
        return self._unique(lambda: f"{prefix}_{mode}_51{self.chars(97)}")

    def clerk_publishable(self, mode, host):
        return f"pk_{mode}_" + base64.b64encode(f"{host}$".encode()).decode().rstrip("=")

    def clerk_secret(self, mode):
        return self._unique(lambda: f"sk_{mode}_{self.chars(42)}")

    def whsec(self):
        def make():
            raw = bytes(self.rng.getrandbits(8) for _ in range(24))
            return "whsec_" + base64.b64encode(raw).decode()

        return self._unique(make)

    def hex32(self):
        return self._unique(lambda: self.chars(64, "0123456789abcdef"))


def build(seed, flaws=()):
    """``{env: {KEY: value}}`` for the clean project, with the named flaws put into prod."""
    s = Shapes(seed)
    team = s.chars(6, string.ascii_lowercase)
    app = f"{s.rng.choice(ANIMALS)}-app"
    convex = {"dev": s.convex_name(), "preview": s.convex_name(), "prod": s.convex_name()}
    another = s.convex_name()
    clerk_hosts = {
        "dev": f"{s.rng.choice(ADJECTIVES)}-{s.rng.choice(ANIMALS)}-{s.rng.randint(1, 99)}"
        ".clerk.accounts.dev",
        "preview": f"{s.rng.choice(ADJECTIVES)}-{s.rng.choice(ANIMALS)}-{s.rng.randint(1, 99)}"
        ".clerk.accounts.dev",
        "prod": f"clerk.{app}.com",
    }
    envs = {}
    for env in ("dev", "preview", "prod"):
        mode = "live" if env == "prod" else "test"
        name = convex[env]
        kind = "dev" if env == "dev" else "prod"  # preview: a staging project's prod deployment
        envs[env] = {
            "CONVEX_DEPLOYMENT": f"{kind}:{name}",
            "NEXT_PUBLIC_CONVEX_URL": f"https://{name}.convex.cloud",
            "NEXT_PUBLIC_CONVEX_SITE_URL": f"https://{name}.convex.site",
            "CONVEX_DEPLOY_KEY": s.deploy_key(kind, name),
            "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY": s.clerk_publishable(mode, clerk_hosts[env]),
            "CLERK_SECRET_KEY": s.clerk_secret(mode),
            "NEXT_PUBLIC_CLERK_FRONTEND_API_URL": f"https://{clerk_hosts[env]}",
            "CLERK_WEBHOOK_SECRET": s.whsec(),
            "STRIPE_SECRET_KEY": s.stripe("sk", mode),
            "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY": s.stripe("pk", mode),
            "STRIPE_WEBHOOK_SECRET": s.whsec(),
            "CSRF_SECRET": s.hex32(),
            "SESSION_SECRET": s.hex32(),
            "NEXT_PUBLIC_SITE_NAME": f"Secure Vibe ({env})" if env != "prod" else "Secure Vibe",
        }
    prod = envs["prod"]
    if "test_keys" in flaws:
        prod["STRIPE_SECRET_KEY"] = s.stripe("sk", "test")
        prod["NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY"] = s.stripe("pk", "test")
        prod["CLERK_SECRET_KEY"] = s.clerk_secret("test")
        prod["NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY"] = s.clerk_publishable("test", clerk_hosts["prod"])
    if "csrf_shared_with_dev" in flaws:
        prod["CSRF_SECRET"] = envs["dev"]["CSRF_SECRET"]
    if "convex_url_names_dev" in flaws:
        prod["NEXT_PUBLIC_CONVEX_URL"] = f"https://{convex['dev']}.convex.cloud"
    if "webhook_shared_with_preview" in flaws:
        prod["CLERK_WEBHOOK_SECRET"] = envs["preview"]["CLERK_WEBHOOK_SECRET"]
    if "required_missing" in flaws:
        del prod["SESSION_SECRET"]
    if "deploy_key_names_another" in flaws:
        prod["CONVEX_DEPLOY_KEY"] = s.deploy_key("prod", another)
    return envs, {"convex": convex, "another": another, "team": team, "app": app}


def dotenv(values, *, convex_dev=None):
    """A file as the tools write it: dev's ``.env.local`` as ``npx convex dev`` leaves it."""
    lines = []
    for key, value in values.items():
        if key == "CONVEX_DEPLOYMENT" and convex_dev:
            lines += [
                "# Deployment used by `npx convex dev`",
                f"{key}={value} # team: {convex_dev[0]}, project: {convex_dev[1]}",
                "",
            ]
        elif " " in value:
            lines.append(f'{key}="{value}"')
        else:
            lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def load(tmp_path, envs, names):
    """Each environment through env_import; prod's change request approved by another person."""
    for env, values in envs.items():
        path = tmp_path / f"{env}.env"
        convex_dev = (names["team"], names["app"]) if env == "dev" else None
        path.write_text(dotenv(values, convex_dev=convex_dev))
        out = json.loads(
            run(
                "env_import",
                str(path),
                "--project",
                PROJECT,
                "--environment",
                env,
                "--as",
                "otto",
                "--reason",
                f"{env} from the deployment guide",
                "--json",
            )
        )
        assert {a["key"] for a in out["added"]} == set(values)
        if env == "prod":
            assert out["change_request"] and not out["applied"]
            run(
                "change_request",
                "approve",
                str(out["change_request"]),
                "--as",
                "anna",
                "--reason",
                "checked against the guide",
            )
        else:
            assert out["applied"]
    return Project.objects.get(name=PROJECT)


def mark_required(project, users, keys):
    for env in project.environments.exclude(tier="production"):
        for key in keys:
            services.configvar_save(
                actor=users["operator"], environment=env, key=key, required=True
            )


def env_check():
    out = StringIO()
    try:
        call_command("env_check", "--project", PROJECT, "--json", stdout=out)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    return code, json.loads(out.getvalue())


FLAWS = {
    "test_keys": {
        ("prod", "test_key_in_production", key)
        for key in (
            "STRIPE_SECRET_KEY",
            "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
            "CLERK_SECRET_KEY",
            "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
        )
    },
    "csrf_shared_with_dev": {
        ("prod", "shared_secret_across_tiers", "CSRF_SECRET"),
        ("dev", "shared_secret_across_tiers", "CSRF_SECRET"),
    },
    "convex_url_names_dev": {
        ("prod", "production_points_at_non_production", "NEXT_PUBLIC_CONVEX_URL"),
        # prod's own CONVEX_DEPLOYMENT and site URL name another deployment than this URL
        ("prod", "conflicting_deployments", "NEXT_PUBLIC_CONVEX_URL"),
    },
    "webhook_shared_with_preview": {
        ("prod", "shared_secret_across_tiers", "CLERK_WEBHOOK_SECRET"),
        ("preview", "shared_secret_across_tiers", "CLERK_WEBHOOK_SECRET"),
    },
    "required_missing": {("prod", "required_missing", "SESSION_SECRET")},
    "deploy_key_names_another": {("prod", "conflicting_deployments", "CONVEX_DEPLOY_KEY")},
}


def secrets_of(envs):
    public = ("NEXT_PUBLIC_", "CONVEX_DEPLOYMENT")
    return {v for values in envs.values() for k, v in values.items() if not k.startswith(public)}


def reported(data):
    return {(f["environment"], f["rule"], f["key"]) for f in data["findings"]}


@pytest.mark.parametrize("seed", [1, 29, 4096])
def test_clean_three_environments_report_nothing(tmp_path, users, seed):
    envs, names = build(seed)
    project = load(tmp_path, envs, names)
    mark_required(project, users, ["SESSION_SECRET", "CONVEX_DEPLOY_KEY"])

    # Loaded through the services: every step is in the audit trail, no secret in it.
    events = AuditEvent.objects.filter(environment__project=project)
    counts = Counter(events.values_list("action", flat=True))
    assert AuditEvent.objects.filter(action="project.created").count() == 1
    assert counts["environment.created"] == 3
    assert counts["env.import.applied"] == 3  # dev and preview directly, prod on approval
    assert counts["changerequest.created"] == counts["changerequest.approved"] == 1
    assert counts["changerequest.applied"] == 1
    assert counts["configvar.created"] == sum(len(v) for v in envs.values())
    assert counts["configvar.updated"] == 4
    prod_cr = ChangeRequest.objects.get()
    assert (prod_cr.author.username, prod_cr.decided_by.username) == ("otto", "anna")
    assert events.filter(action="configvar.created", actor__username="anna").count() == len(
        envs["prod"]
    )
    dump = json.dumps(list(events.values("changes", "message", "target_repr")))
    assert not [s for s in secrets_of(envs) if s in dump]

    code, data = env_check()
    assert (code, data["errors"], data["warnings"], data["findings"]) == (0, 0, 0, [])
    prod = Environment.objects.get(project=project, name="prod")
    assert prod.tier == "production" and prod.protected and not prod.deployments.exists()


@pytest.mark.parametrize("seed", [1, 29, 4096])
def test_every_mistake_of_the_guide_is_reported(tmp_path, users, seed):
    envs, names = build(seed, flaws=set(FLAWS))
    project = load(tmp_path, envs, names)
    mark_required(project, users, ["SESSION_SECRET", "CONVEX_DEPLOY_KEY"])
    assert AuditEvent.objects.filter(action="changerequest.applied").count() == 1
    assert AuditEvent.objects.filter(action="configvar.updated").count() == 4

    code, data = env_check()
    assert code == 1
    expected = set().union(*FLAWS.values())
    assert reported(data) == expected
    assert all(f["severity"] == "error" for f in data["findings"])
    assert data["errors"] == len(data["findings"]) and data["warnings"] == 0

    by = {(f["environment"], f["rule"], f["key"]): f["message"] for f in data["findings"]}
    dev_name, another = names["convex"]["dev"], names["another"]
    url_message = by[("prod", "production_points_at_non_production", "NEXT_PUBLIC_CONVEX_URL")]
    assert dev_name in url_message and "CONVEX_DEPLOYMENT" in url_message
    assert "dev (development)" in url_message
    key_message = by[("prod", "conflicting_deployments", "CONVEX_DEPLOY_KEY")]
    assert another in key_message and names["convex"]["prod"] in key_message
    assert "in dev" in by[("prod", "shared_secret_across_tiers", "CSRF_SECRET")]
    assert "in preview" in by[("prod", "shared_secret_across_tiers", "CLERK_WEBHOOK_SECRET")]
    assert "SESSION_SECRET is required" in by[("prod", "required_missing", "SESSION_SECRET")]
    output = json.dumps(data)
    assert not [s for s in secrets_of(envs) if s in output]


@pytest.mark.parametrize("flaw", sorted(FLAWS))
def test_each_mistake_alone_is_reported_alone(tmp_path, users, flaw):
    envs, names = build(sum(map(ord, flaw)), flaws={flaw})
    project = load(tmp_path, envs, names)
    mark_required(project, users, ["SESSION_SECRET", "CONVEX_DEPLOY_KEY"])
    code, data = env_check()
    assert code == 1
    assert reported(data) == FLAWS[flaw]
