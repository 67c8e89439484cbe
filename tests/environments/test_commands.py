"""env_import, env_check and change_request on the command line."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from environments import demo
from environments.choices import ChangeRequestStatus, Tier
from environments.models import ChangeRequest, Environment, Project
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def run(*args):
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def demo_loaded(users, user_factory):
    demo.load(
        users={"operator": users["operator"], "approver": users["approver"]}, stdout=StringIO()
    )
    return Project.objects.get(slug="makalah-ai")


@pytest.fixture
def envfile(tmp_path):
    path = tmp_path / "prod.env"
    path.write_text(
        "# production\n"
        "export CLERK_SECRET_KEY=sk_live_cmdline0123456789\n"
        'NEXT_PUBLIC_CONVEX_URL="https://basic-oriole-337.convex.cloud"\n'
    )
    return path


def test_env_import_creates_project_and_environment(users, envfile):
    out = run(
        "env_import", str(envfile), "--project", "shop.app", "--environment", "qa", "--as", "otto"
    )
    env = Environment.objects.get(project__name="shop.app", name="qa")
    assert env.tier == Tier.DEVELOPMENT
    assert set(env.variables.values_list("key", flat=True)) == {
        "CLERK_SECRET_KEY",
        "NEXT_PUBLIC_CONVEX_URL",
    }
    assert "created project" in out and "applied" in out
    assert "sk_live_cmdline0123456789" not in out
    assert AuditEvent.objects.filter(action="env.import.applied", environment_id=env.pk).exists()


@pytest.mark.parametrize(
    ("name", "tier", "flag"),
    [("prod", "production", None), ("preview", "preview", None), ("eu", "staging", "staging")],
)
def test_env_import_tier(users, envfile, name, tier, flag):
    args = ["env_import", str(envfile), "--project", "p", "--environment", name, "--as", "otto"]
    if flag:
        args += ["--tier", flag]
    run(*args)
    env = Environment.objects.get(name=name)
    assert env.tier == tier
    created = AuditEvent.objects.get(action="environment.created")
    assert (created.environment_id, created.tier) == (env.pk, tier)
    if tier == "production":
        # Created protected: the import itself became a change request.
        assert env.protected and not env.variables.exists()
        assert ChangeRequest.objects.get().environment == env


def test_env_import_dry_run_json_on_demo(demo_loaded, envfile):
    before = AuditEvent.objects.count()
    out = run(
        "env_import",
        str(envfile),
        "--project",
        "makalah.ai",
        "--environment",
        "prod",
        "--as",
        "otto",
        "--dry-run",
        "--json",
    )
    data = json.loads(out)
    assert data["dry_run"] is True and data["applied"] is False
    assert [c["key"] for c in data["changed"]] == ["CLERK_SECRET_KEY", "NEXT_PUBLIC_CONVEX_URL"]
    assert data["changed"][0]["fingerprint_changed"] is True
    assert "sk_live_cmdline0123456789" not in out
    assert AuditEvent.objects.count() == before


def test_env_import_dry_run_for_new_project_writes_nothing(users, envfile):
    out = json.loads(
        run(
            "env_import",
            str(envfile),
            "--project",
            "new",
            "--environment",
            "dev",
            "--as",
            "otto",
            "--dry-run",
            "--json",
        )
    )
    assert out["created"] == ["project", "environment"]
    assert len(out["added"]) == 2
    assert not Project.objects.exists() and not AuditEvent.objects.exists()


def test_env_import_on_protected_prints_change_request(demo_loaded, envfile):
    out = run(
        "env_import",
        str(envfile),
        "--project",
        "makalah-ai",
        "--environment",
        "prod",
        "--as",
        "otto",
    )
    cr = ChangeRequest.objects.order_by("-pk").first()
    assert f"change request #{cr.pk} created" in out
    event = AuditEvent.objects.filter(action="changerequest.created").order_by("-seq").first()
    assert event.target_id == str(cr.pk) and event.tier == "production"


def test_env_import_errors(users, tmp_path):
    bad = tmp_path / "bad.env"
    bad.write_text("A=1\nA=2\n")
    with pytest.raises(CommandError, match="line 2: duplicate variable A"):
        run("env_import", str(bad), "--project", "p", "--environment", "dev", "--as", "otto")
    with pytest.raises(CommandError, match="No active user"):
        run("env_import", str(bad), "--project", "p", "--environment", "dev", "--as", "nobody")
    good = tmp_path / "good.env"
    good.write_text("A=1\n")
    with pytest.raises(CommandError, match="vera is not allowed"):
        run("env_import", str(good), "--project", "p", "--environment", "dev", "--as", "vera")
    # Nothing half-written: no project, no environment, no audit row.
    assert not Project.objects.exists()
    assert not AuditEvent.objects.exists()


def test_env_check_flags_prod_points_at_dev_on_demo(demo_loaded):
    out = StringIO()
    with pytest.raises(CommandError) as info:
        call_command("env_check", "--project", "makalah.ai", "--json", stdout=out)
    assert info.value.returncode == 1
    data = json.loads(out.getvalue())
    assert data["project"] == "makalah.ai" and data["errors"] >= 1
    hits = [f for f in data["findings"] if f["rule"] == "production_points_at_non_production"]
    assert {f["key"] for f in hits} == {"NEXT_PUBLIC_CONVEX_URL", "NEXT_PUBLIC_CONVEX_SITE_URL"}
    assert all(f["environment"] == "prod" and f["severity"] == "error" for f in hits)


def test_env_check_by_slug_and_clean_project_exits_zero(demo_loaded):
    out = run("env_check", "--project", "convoai")
    assert "ConvoAI: 0 errors" in out
    with pytest.raises(CommandError, match="No project named"):
        run("env_check", "--project", "nope")


def test_change_request_cli_flow(demo_loaded):
    # The demo's pending fix of the Convex URL (its own loading of production was approved).
    cr = ChangeRequest.objects.pending().get()
    listed = json.loads(run("change_request", "list", "--as", "anna", "--json"))
    assert [i["id"] for i in listed] == [cr.pk]
    shown = json.loads(run("change_request", "show", str(cr.pk), "--as", "anna", "--json"))
    assert {c["key"] for c in shown["changes"]} == {
        "NEXT_PUBLIC_CONVEX_URL",
        "NEXT_PUBLIC_CONVEX_SITE_URL",
    }
    with pytest.raises(CommandError, match="otto is not allowed to approve"):
        run("change_request", "approve", str(cr.pk), "--as", "otto")
    with pytest.raises(CommandError, match="Say why"):
        run("change_request", "reject", str(cr.pk), "--as", "anna")
    out = run("change_request", "approve", str(cr.pk), "--as", "anna", "--reason", "checked")
    assert "Approved and applied" in out
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.APPLIED
    assert AuditEvent.objects.filter(
        action="changerequest.approved", actor__username="anna"
    ).exists()
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("env_check", "--project", "makalah.ai", "--json", stdout=out)
    rules = {f["rule"] for f in json.loads(out.getvalue())["findings"]}
    assert "production_points_at_non_production" not in rules


def test_demo_is_idempotent(demo_loaded, users):
    counts = (
        Environment.objects.count(),
        ChangeRequest.objects.count(),
        AuditEvent.objects.count(),
    )
    demo.load(users={"operator": users["operator"]}, stdout=StringIO())
    assert (
        Environment.objects.count(),
        ChangeRequest.objects.count(),
        AuditEvent.objects.count(),
    ) == counts
    prod = Environment.objects.get(project__slug="makalah-ai", name="prod")
    assert prod.protected and prod.tier == Tier.PRODUCTION
    assert {d.identifier for d in prod.deployments.all()} >= {"prod:basic-oriole-337"}


def test_env_compare_on_demo(demo_loaded):
    data = json.loads(
        run("env_compare", "--project", "makalah.ai", "--from", "dev", "--to", "prod", "--json")
    )
    actions = {(i["action"], i["key"]) for i in data["items"]}
    assert ("change", "NEXT_PUBLIC_CONVEX_URL") in actions
    assert ("change", "CSRF_SECRET") in actions
    assert ("set", "DEBUG_PROMPTS") in actions
    assert data["key_drift"] == {"only_in_a": ["DEBUG_PROMPTS"], "only_in_b": []}
    md = run("env_compare", "--project", "makalah-ai", "--from", "dev", "--to", "prod")
    assert "- [ ] **change** `NEXT_PUBLIC_CONVEX_URL` — still points at dev's deployment" in md
    with pytest.raises(CommandError, match="has no environment 'staging'"):
        run("env_compare", "--project", "makalah-ai", "--from", "staging", "--to", "prod")


@pytest.mark.parametrize("fmt", ["env-example", "md", "csv"])
def test_env_export(demo_loaded, fmt):
    out = run("env_export", "--project", "makalah.ai", "--format", fmt)
    assert "NEXT_PUBLIC_CONVEX_URL" in out and "CLERK_SECRET_KEY" in out
    assert demo.MAKALAH_PROD["CLERK_SECRET_KEY"] not in out
    assert demo.MAKALAH_DEV["CSRF_SECRET"] not in out
    assert not AuditEvent.objects.filter(action__contains="export").exists()  # a read
