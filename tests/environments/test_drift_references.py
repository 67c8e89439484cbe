"""Drift with references: a variable whose value is only ``${OTHER}`` is compared by what it
resolves to in its own environment, and shown as ``→ OTHER``.

References are built the way they are stored (value kind ``reference``, detail ``OTHER``, the
template kept in clear): they are not secrets. Secrets are random per seed.
"""

import random
import string

import pytest
from django.urls import reverse

from environments import drift
from environments.choices import Tier
from opsportal.audit.masking import fingerprint
from tests.factories import EnvironmentFactory, ProjectFactory

from .factories import ConfigVarFactory

pytestmark = pytest.mark.django_db
SEEDS = [1, 42, 777]


def secret(rng, n=40):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def ref(env, key, other, **kw):
    template = "${" + other + "}"
    return ConfigVarFactory(
        environment=env,
        key=key,
        raw=template,
        is_secret=False,
        value=template,
        value_kind="reference",
        detail=other,
        # Whatever a template's fingerprint is, it is the same in every environment: drift must
        # not read it as "the same secret".
        fingerprint=fingerprint(template),
        hint="",
        **kw,
    )


@pytest.fixture
def envs():
    project = ProjectFactory(name="refs.app", slug="refs-app")
    dev = EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    prod = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    return project, dev, prod


def cells(project):
    return {key: c for key, _req, c in drift.matrix(project).rows}


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_resolves_references(envs, seed):
    rng = random.Random(seed)
    project, dev, prod = envs
    dev_db, prod_db = (f"postgres://app:{secret(rng)}@db-{i}.example.com/app" for i in (1, 2))
    for env, url in ((dev, dev_db), (prod, prod_db)):
        ConfigVarFactory(environment=env, key="POSTGRES_URL", raw=url, secret=True)
        ref(env, "DATABASE_URL", "POSTGRES_URL")
    row = cells(project)["DATABASE_URL"]
    assert [(c.label, c.reference, c.resolved, c.is_secret) for c in row] == [
        ("→ POSTGRES_URL", "POSTGRES_URL", True, False)
    ] * 2
    assert [c.shared_with for c in row] == [[], []]  # the same template is not a shared secret
    assert drift.matrix(project).drift_count == 0

    # prod's POSTGRES_URL now holds dev's value: both rows show it, the reference's too.
    prod.variables.filter(key="POSTGRES_URL").update(fingerprint=fingerprint(dev_db))
    rows = cells(project)
    assert [c.shared_with for c in rows["POSTGRES_URL"]] == [["prod"], ["dev"]]
    assert [c.shared_with for c in rows["DATABASE_URL"]] == [["prod"], ["dev"]]


@pytest.mark.parametrize("seed", SEEDS)
def test_matrix_reference_against_a_literal_and_unresolved(envs, seed):
    rng = random.Random(seed)
    project, dev, prod = envs
    csrf = secret(rng)
    ConfigVarFactory(environment=dev, key="CSRF_SECRET", raw=csrf, secret=True)
    ConfigVarFactory(environment=prod, key="SHARED_CSRF", raw=csrf, secret=True)
    ref(prod, "CSRF_SECRET", "SHARED_CSRF")
    ref(prod, "APP_URL", "VERCEL_URL")  # provided by the platform, not in the inventory
    ref(dev, "LOOP_A", "LOOP_B")
    ref(dev, "LOOP_B", "LOOP_A")
    rows = cells(project)
    assert rows["CSRF_SECRET"][1].shared_with == ["dev"]
    assert rows["CSRF_SECRET"][0].shared_with == ["prod"]
    app = rows["APP_URL"][1]
    assert (app.label, app.resolved, app.status) == ("→ VERCEL_URL", False, "present")
    assert [c.resolved for c in rows["LOOP_A"] if c.reference] == [False]


@pytest.mark.parametrize("seed", SEEDS)
def test_checklist_compares_what_references_resolve_to(envs, seed):
    rng = random.Random(seed)
    _project, dev, prod = envs
    shared = f"postgres://app:{secret(rng)}@db.example.com/app"
    for env in (dev, prod):
        ConfigVarFactory(environment=env, key="POSTGRES_URL", raw=shared, secret=True)
        ref(env, "DATABASE_URL", "POSTGRES_URL")
        ConfigVarFactory(environment=env, key="API_BASE", raw=f"https://{env.name}.example.com")
        ref(env, "NEXT_PUBLIC_API_BASE", "API_BASE")  # same reference both sides: nothing to do
    ref(dev, "SITE_URL", "API_BASE")
    ref(prod, "SITE_URL", "PUBLIC_URL")
    ConfigVarFactory(environment=prod, key="PUBLIC_URL", raw="https://app.example.com")
    ConfigVarFactory(environment=dev, key="WORKER_TOKEN", raw=secret(rng), secret=True)
    ref(prod, "WORKER_TOKEN", "WORKER_TOKEN_PROD")  # prod has no WORKER_TOKEN_PROD
    ref(dev, "STRIPE_KEY", "STRIPE_SECRET_KEY")
    ref(prod, "STRIPE_KEY", "STRIPE_SECRET_KEY")
    for env in (dev, prod):
        ConfigVarFactory(environment=env, key="STRIPE_SECRET_KEY", raw=f"sk_test_{secret(rng, 24)}")
    ref(dev, "NEW_REF", "API_BASE")

    items = {(i.action, i.key): i.reason for i in drift.promotion_checklist(dev, prod)}
    assert "same secret as dev (through POSTGRES_URL)" in items[("change", "DATABASE_URL")]
    assert "same secret as dev" in items[("change", "POSTGRES_URL")]
    assert items[("review", "SITE_URL")] == "differs: dev → API_BASE, prod → PUBLIC_URL"
    assert (
        "refers to WORKER_TOKEN_PROD, which prod does not have" in items[("change", "WORKER_TOKEN")]
    )
    assert "test-mode key" in items[("change", "STRIPE_KEY")]
    assert items[("set", "NEW_REF")] == "missing in prod; dev has → API_BASE"
    assert not [k for k in items if k[1] == "NEXT_PUBLIC_API_BASE"]
    assert ("remove", "PUBLIC_URL") in items
    assert shared not in str(items)


def test_checklist_reference_and_literal_with_the_same_value(envs):
    _project, dev, prod = envs
    ConfigVarFactory(environment=dev, key="API_BASE", raw="https://api.example.com")
    ref(dev, "NEXT_PUBLIC_API_BASE", "API_BASE")
    ConfigVarFactory(environment=prod, key="API_BASE", raw="https://api.example.com")
    ConfigVarFactory(environment=prod, key="NEXT_PUBLIC_API_BASE", raw="https://api.example.com")
    assert drift.promotion_checklist(dev, prod) == []
    prod.variables.filter(key="NEXT_PUBLIC_API_BASE").update(value="https://other.example.com")
    (item,) = drift.promotion_checklist(dev, prod)
    assert (item.action, item.reason) == (
        "review",
        "differs: dev → API_BASE, prod 'https://other.example.com'",
    )


def test_matrix_page_shows_a_reference(envs, client_for):
    project, dev, prod = envs
    ConfigVarFactory(environment=dev, key="POSTGRES_URL", raw="postgres://u:pw0123456789@h/db")
    ref(dev, "DATABASE_URL", "POSTGRES_URL")
    ref(prod, "DATABASE_URL", "POSTGRES_URL")
    client, _user = client_for("viewer")
    html = client.get(reverse("environments:project_detail", kwargs={"slug": project.slug}))
    assert html.status_code == 200
    text = html.content.decode()
    assert text.count('data-testid="reference"') == 2
    assert "→ POSTGRES_URL</span> <span" in text  # prod: not set there
    assert "(not set here)" in text
    assert "${POSTGRES_URL}" not in text


def test_references_imported_through_the_services(envs, users):
    """With the classifier: an imported ``${OTHER}`` is stored as a reference and drift reads it."""
    from environments import services
    from opsportal.audit.models import AuditEvent

    project, dev, _prod = envs
    rng = random.Random(99)
    url = f"postgres://app:{secret(rng)}@db.example.com/app"
    text = f"POSTGRES_URL={url}\nDATABASE_URL=${{POSTGRES_URL}}\nAPP_URL=${{VERCEL_URL}}\n"
    plan = services.import_plan(environment=dev, text=text)
    services.env_import_apply(actor=users["operator"], environment=dev, plan=plan)
    assert AuditEvent.objects.filter(action="configvar.created", environment=dev).count() == 3
    assert AuditEvent.objects.filter(action="env.import.applied", environment=dev).count() == 1
    stored = dev.variables.get(key="DATABASE_URL")
    assert (stored.value_kind, stored.detail, stored.is_secret) == (
        "reference",
        "POSTGRES_URL",
        False,
    )
    row = cells(project)
    assert row["DATABASE_URL"][0].label == "→ POSTGRES_URL" and row["DATABASE_URL"][0].resolved
    assert row["APP_URL"][0].resolved is False
    assert drift.resolve(stored, {v.key: v for v in dev.variables.all()}).key == "POSTGRES_URL"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_reference_marked_secret_is_no_shared_secret(seed, users):
    """``${POSTGRES_PASSWORD}`` kept secret ("Always secret", ``--secret``) in two tiers has the
    template's fingerprint in both: hygiene compares what it resolves to, never the template."""
    from environments import services
    from environments.hygiene import check_project
    from opsportal.audit.models import AuditEvent

    rng = random.Random(seed)
    project = ProjectFactory(name="refs-secret.app", slug="refs-secret-app")
    dev = EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    preview = EnvironmentFactory(project=project, name="preview", tier=Tier.PREVIEW)
    for env in (dev, preview):
        text = f"DB_PASSWORD=${{POSTGRES_PASSWORD}}\nPOSTGRES_PASSWORD={secret(rng)}\n"
        plan = services.import_plan(environment=env, text=text, secret_keys={"DB_PASSWORD"})
        services.env_import_apply(actor=users["operator"], environment=env, plan=plan)
        assert AuditEvent.objects.filter(action="env.import.applied", environment=env).count() == 1
        stored = env.variables.get(key="DB_PASSWORD")
        assert (stored.value_kind, stored.detail, stored.is_secret) == (
            "reference",
            "POSTGRES_PASSWORD",
            True,
        )
    templates = {e.variables.get(key="DB_PASSWORD").fingerprint for e in (dev, preview)}
    assert len(templates) == 1  # the same template, the same fingerprint
    assert check_project(project) == []

    # The referenced secret itself shared across tiers: reported on it, not on the reference.
    shared = dev.variables.get(key="POSTGRES_PASSWORD").fingerprint
    preview.variables.filter(key="POSTGRES_PASSWORD").update(fingerprint=shared)
    found = {(f.environment, f.rule, f.key) for f in check_project(project)}
    assert found == {
        ("dev", "shared_secret_across_tiers", "POSTGRES_PASSWORD"),
        ("preview", "shared_secret_across_tiers", "POSTGRES_PASSWORD"),
    }
