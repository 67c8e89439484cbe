"""Realistic files of each supported format, imported end to end."""

import pytest

from environments import parsers, services
from environments.choices import ValueKind
from opsportal.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def load(fixtures_dir, name):
    return parsers.decode((fixtures_dir / "environments" / name).read_bytes())


def test_dotenv_file(users, dev, fixtures_dir):
    plan = services.import_plan(environment=dev, text=load(fixtures_dir, "dev.env"))
    assert plan.fmt == "dotenv"
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    kinds = dict(dev.variables.values_list("key", "value_kind"))
    assert kinds == {
        "CONVEX_DEPLOYMENT": ValueKind.CONVEX_DEPLOYMENT,
        "NEXT_PUBLIC_CONVEX_URL": ValueKind.CONVEX_URL,
        "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY": ValueKind.CLERK_PUBLISHABLE_TEST,
        "CLERK_SECRET_KEY": ValueKind.CLERK_SECRET_TEST,
        "CSRF_SECRET": ValueKind.TEXT,
        "UPSTASH_REDIS_URL": ValueKind.REDIS_URL,
        "JWT_PRIVATE_KEY": ValueKind.PRIVATE_KEY,
    }
    secrets = set(dev.variables.filter(is_secret=True).values_list("key", flat=True))
    assert secrets == {"CLERK_SECRET_KEY", "CSRF_SECRET", "UPSTASH_REDIS_URL", "JWT_PRIVATE_KEY"}
    redis = dev.variables.get(key="UPSTASH_REDIS_URL")
    assert redis.detail == "eu1-fixture.upstash.io" and redis.value == ""
    assert dev.variables.get(key="CONVEX_DEPLOYMENT").value == "dev:wary-ferret-59"
    assert AuditEvent.objects.filter(action="env.import.applied").count() == 1


def test_convex_env_list(users, dev, fixtures_dir):
    plan = services.import_plan(
        environment=dev, text=load(fixtures_dir, "convex-env-list.txt"), fmt="convex"
    )
    assert [c["key"] for c in plan.added] == [
        "CLERK_JWT_ISSUER_DOMAIN",
        "KAPSO_WEBHOOK_SECRET",
        "OPENAI_API_KEY",
        "SITE_URL",
    ]
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    assert (
        dev.variables.get(key="KAPSO_WEBHOOK_SECRET").value_kind == "webhook_secret"
    )  # not Stripe: the name says Kapso
    assert AuditEvent.objects.filter(action="configvar.created").count() == 4


def test_vercel_env_pull(users, prod, fixtures_dir, dev):
    plan = services.import_plan(environment=prod, text=load(fixtures_dir, "vercel-env-pull.env"))
    assert plan.fmt == "vercel"
    assert {c["key"] for c in plan.added} == {
        "CLERK_SECRET_KEY",
        "CONVEX_DEPLOYMENT",
        "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
        "NEXT_PUBLIC_CONVEX_URL",
    }
    result = services.env_import_apply(
        actor=users["operator"], environment=prod, plan=plan, reason="from vercel"
    )
    services.changerequest_approve(actor=users["approver"], change_request=result.change_request)
    from environments.hygiene import check_environment

    rules = {(f.rule, f.key) for f in check_environment(prod)}
    assert ("production_points_at_non_production", "NEXT_PUBLIC_CONVEX_URL") in rules
    assert AuditEvent.objects.filter(action="changerequest.applied").count() == 1


def test_markdown_inventory_file(users, dev, fixtures_dir):
    plan = services.import_plan(environment=dev, text=load(fixtures_dir, "ENVIRONMENT.md"))
    assert plan.fmt == "markdown" and len(plan.added) == 5
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    required = set(dev.variables.filter(required=True).values_list("key", flat=True))
    assert required == {
        "CONVEX_DEPLOYMENT",
        "NEXT_PUBLIC_CONVEX_URL",
        "CLERK_SECRET_KEY",
        "CSRF_SECRET",
    }
    assert not dev.variables.filter(has_value=True).exists()
    assert AuditEvent.objects.filter(action="configvar.created").count() == 5
