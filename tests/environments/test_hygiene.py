"""Each hygiene rule fires on a case built for it and stays silent on a clean project."""

from datetime import timedelta

import pytest
from django.utils import timezone

from environments import drift, hygiene
from environments.choices import Tier
from tests.factories import EnvironmentFactory, ProjectFactory, ProviderDeploymentFactory

from .factories import ConfigVarFactory

pytestmark = pytest.mark.django_db


def rules(findings, key=None):
    return sorted({(f.rule, f.severity) for f in findings if key is None or f.key == key})


@pytest.fixture
def clean(dev, prod):
    """dev and prod with matching keys, their own secrets and their own deployments."""
    for env, mode, name in ((dev, "test", "wary-ferret-59"), (prod, "live", "basic-oriole-337")):
        ConfigVarFactory(
            environment=env, key="STRIPE_SECRET_KEY", raw=f"sk_{mode}_{env.name}0123456789"
        )
        ConfigVarFactory(
            environment=env, key="CSRF_SECRET", raw=f"csrf-{env.name}-Zk3q9XvB7pLm2RtY8"
        )
        ConfigVarFactory(
            environment=env,
            key="NEXT_PUBLIC_CONVEX_URL",
            raw=f"https://{name}.convex.cloud",
            required=True,
        )
        ConfigVarFactory(environment=env, key="CONVEX_DEPLOYMENT", raw=f"{env.name}:{name}")
    return dev, prod


def test_clean_project_has_no_findings(clean, project):
    assert hygiene.check_project(project) == []
    for env in clean:
        assert hygiene.check_environment(env) == []


def test_test_key_in_production(clean):
    _dev, prod = clean
    var = prod.variables.get(key="STRIPE_SECRET_KEY")
    ConfigVarFactory.reset_sequence()
    var.delete()
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_test_prod0123456789")
    findings = hygiene.check_environment(prod)
    assert rules(findings) == [("test_key_in_production", "error")]
    assert findings[0].key == "STRIPE_SECRET_KEY"
    assert "test-mode key" in findings[0].message


def test_live_key_outside_production(clean):
    dev, _prod = clean
    dev.variables.filter(key="STRIPE_SECRET_KEY").delete()
    ConfigVarFactory(environment=dev, key="STRIPE_SECRET_KEY", raw="sk_live_dev0123456789")
    ConfigVarFactory(environment=dev, key="NEXT_PUBLIC_STRIPE_PK", raw="pk_live_dev0123456789")
    findings = hygiene.check_environment(dev)
    assert rules(findings, "STRIPE_SECRET_KEY") == [("live_key_outside_production", "error")]
    assert ("live_key_outside_production", "warning") in rules(findings, "NEXT_PUBLIC_STRIPE_PK")


def test_same_secret_in_two_tiers(clean):
    dev, prod = clean
    for env in (dev, prod):
        env.variables.filter(key="CSRF_SECRET").delete()
        ConfigVarFactory(environment=env, key="CSRF_SECRET", raw="the-same-csrf-secret-everywhere")
    findings = hygiene.check_environment(prod)
    assert rules(findings) == [("shared_secret_across_tiers", "error")]
    assert "same secret value as CSRF_SECRET in dev" in findings[0].message


def test_webhook_secret_reused_under_another_name(clean):
    dev, prod = clean
    ConfigVarFactory(environment=dev, key="CLERK_WEBHOOK_SECRET", raw="whsec_reused0123456789")
    ConfigVarFactory(environment=prod, key="CLERK_WEBHOOK_SECRET", raw="whsec_prodown0123456789")
    ConfigVarFactory(environment=prod, key="KAPSO_WEBHOOK_SECRET", raw="whsec_reused0123456789")
    ConfigVarFactory(environment=dev, key="KAPSO_WEBHOOK_SECRET", raw="whsec_devown0123456789")
    found = [f for f in hygiene.check_environment(prod) if f.rule == "shared_secret_across_tiers"]
    assert [(f.key, f.severity) for f in found] == [("KAPSO_WEBHOOK_SECRET", "error")]
    assert "CLERK_WEBHOOK_SECRET in dev" in found[0].message


def test_same_secret_within_one_tier_is_not_flagged(project):
    a = EnvironmentFactory(project=project, name="preview-1", tier=Tier.PREVIEW)
    b = EnvironmentFactory(project=project, name="preview-2", tier=Tier.PREVIEW)
    for env in (a, b):
        ConfigVarFactory(environment=env, key="API_SECRET", raw="shared-preview-secret-123")
    assert hygiene.check_project(project) == []


def test_production_points_at_dev_deployment(clean):
    _dev, prod = clean
    prod.variables.filter(key="NEXT_PUBLIC_CONVEX_URL").delete()
    ConfigVarFactory(
        environment=prod,
        key="NEXT_PUBLIC_CONVEX_URL",
        raw="https://wary-ferret-59.convex.cloud",
        required=True,
    )
    ConfigVarFactory(
        environment=prod, key="CONVEX_DEPLOY_KEY", raw="dev:wary-ferret-59|secretpart0123"
    )
    findings = hygiene.check_environment(prod)
    hits = [f for f in findings if f.rule == "production_points_at_non_production"]
    assert sorted(f.key for f in hits) == ["CONVEX_DEPLOY_KEY", "NEXT_PUBLIC_CONVEX_URL"]
    assert all(f.severity == "error" for f in hits)
    assert "Convex dev:wary-ferret-59" in hits[0].message
    # The dev side of the same data is fine: dev may point at dev.
    assert not [f for f in hygiene.check_environment(_dev) if f.rule.startswith("production")]


def test_required_missing(clean):
    dev, prod = clean
    prod.variables.filter(key="NEXT_PUBLIC_CONVEX_URL").delete()
    findings = hygiene.check_environment(prod)
    assert rules(findings) == [("required_missing", "error")]
    assert "required (in dev) but missing from prod" in findings[0].message
    ConfigVarFactory(environment=dev, key="DECLARED_ONLY", raw="", required=True, has_value=False)
    ConfigVarFactory(environment=prod, key="DECLARED_ONLY", raw="x", required=True)
    assert ("required_missing", "error") in rules(hygiene.check_environment(dev), "DECLARED_ONLY")


def test_key_missing_in_another_environment(clean):
    dev, prod = clean
    ConfigVarFactory(environment=dev, key="DEBUG_PROMPTS", raw="true")
    findings = hygiene.check_environment(prod)
    assert rules(findings) == [("missing_in_environment", "warning")]
    assert drift.key_drift(dev, prod) == {"only_in_a": ["DEBUG_PROMPTS"], "only_in_b": []}
    assert drift.key_drift(prod, dev) == {"only_in_a": [], "only_in_b": ["DEBUG_PROMPTS"]}


def test_rotation_overdue(clean):
    dev, _prod = clean
    var = dev.variables.get(key="CSRF_SECRET")
    var.rotation_period_days = 30
    var.last_rotated_at = timezone.now() - timedelta(days=31)
    var.save(update_fields=["rotation_period_days", "last_rotated_at"])
    findings = hygiene.check_environment(dev)
    assert rules(findings) == [("rotation_overdue", "warning")]
    assert [v.key for v in hygiene.rotation_due()] == ["CSRF_SECRET"]
    var.last_rotated_at = timezone.now() - timedelta(days=1)
    var.save(update_fields=["last_rotated_at"])
    assert hygiene.check_environment(dev) == []


def test_finding_contract():
    f = hygiene.Finding("error", "rule", "KEY", "message", "prod")
    assert (f.severity, f.rule, f.key, f.message) == ("error", "rule", "KEY", "message")
    assert f.as_dict()["environment"] == "prod"


def test_check_project_query_count(django_assert_max_num_queries, clean, project):
    with django_assert_max_num_queries(4):
        hygiene.check_project(project)


def test_matrix_and_promotion_checklist(clean, project):
    dev, prod = clean
    for env in (dev, prod):
        env.variables.filter(key="NEXT_PUBLIC_CONVEX_URL").delete()
    ConfigVarFactory(
        environment=dev,
        key="NEXT_PUBLIC_CONVEX_URL",
        raw="https://wary-ferret-59.convex.cloud",
        required=True,
    )
    ConfigVarFactory(
        environment=prod, key="NEXT_PUBLIC_CONVEX_URL", raw="https://wary-ferret-59.convex.cloud"
    )
    ConfigVarFactory(environment=dev, key="NEW_SECRET", raw="dev-only-secret-0123456789")
    ConfigVarFactory(environment=dev, key="MUST_HAVE", raw="1", required=True)
    ConfigVarFactory(environment=prod, key="OLD_FLAG", raw="1")
    prod.variables.filter(key="CSRF_SECRET").delete()
    ConfigVarFactory(environment=prod, key="CSRF_SECRET", raw="csrf-dev-Zk3q9XvB7pLm2RtY8")

    m = drift.matrix(project)
    assert [e.name for e in m.environments] == ["dev", "prod"]
    rows = {key: cells for key, _req, cells in m.rows}
    assert [c.status for c in rows["MUST_HAVE"]] == ["present", "required_missing"]
    assert [c.status for c in rows["OLD_FLAG"]] == ["missing", "present"]
    assert rows["CSRF_SECRET"][1].shared_with == ["dev"]

    items = {(i.action, i.key): i for i in drift.promotion_checklist(dev, prod)}
    assert set(items) == {
        ("set", "NEW_SECRET"),
        ("set", "MUST_HAVE"),
        ("change", "NEXT_PUBLIC_CONVEX_URL"),
        ("change", "CSRF_SECRET"),
        ("remove", "OLD_FLAG"),
        ("review", "CONVEX_DEPLOYMENT"),
    }
    assert "do not copy the dev value" in items[("set", "NEW_SECRET")].reason
    assert "wary-ferret-59" in items[("change", "NEXT_PUBLIC_CONVEX_URL")].reason
    assert "generate a new one" in items[("change", "CSRF_SECRET")].reason
    assert "dev-only-secret" not in str([i.reason for i in items.values()])


def test_other_project_is_not_compared(clean):
    other = ProjectFactory(name="other.app", slug="other-app")
    env = EnvironmentFactory(project=other, name="prod", tier=Tier.PRODUCTION)
    ProviderDeploymentFactory(environment=env, identifier="prod:other-thing-1")
    ConfigVarFactory(environment=env, key="CSRF_SECRET", raw="csrf-dev-Zk3q9XvB7pLm2RtY8")
    assert hygiene.check_project(other) == []
