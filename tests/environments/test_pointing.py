"""What an environment points at (environments/pointing.py) and the hygiene rules built on it.

Variables are built in their *stored* form — the clear value of a public variable, only the
public ``detail`` of a secret — the way the classifier keeps them, so these tests read exactly
what pointing can read. Names and tokens are drawn at random per seed, in each provider's shape.
"""

import base64
import json
import random
import string

import pytest

from environments import hygiene, pointing
from environments.choices import Tier
from environments.models import ConfigVar, Environment
from environments.pointing import Target
from opsportal.audit.masking import fingerprint
from tests.factories import EnvironmentFactory, ProjectFactory, ProviderDeploymentFactory

from .factories import ConfigVarFactory

SEEDS = [3, 17, 2024]
ADJECTIVES = ["wary", "basic", "polite", "happy", "tall", "brave", "quiet", "sharing", "calm"]
ANIMALS = ["ferret", "oriole", "bulldog", "otter", "heron", "lynx", "moose", "whale", "crow"]


# --- generators: each provider's shape, random per seed ------------------------------------------
def convex_name(rng) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(ANIMALS)}-{rng.randint(1, 999)}"


def distinct(make, rng, n):
    names = []
    while len(names) < n:
        name = make(rng)
        if name not in names:
            names.append(name)
    return names


def supabase_ref(rng) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(20))


def token(rng, n=40) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def supabase_jwt(rng, ref: str, role: str) -> str:
    def seg(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"iss": "supabase", "ref": ref, "role": role, "iat": 1700000000, "exp": 2000000000}
    return ".".join([seg({"alg": "HS256", "typ": "JWT"}), seg(claims), token(rng, 43)])


def var(key, *, value="", secret=False, kind="url", detail="", raw=None) -> ConfigVar:
    """A variable as stored: a secret keeps no value, only its kind and public detail."""
    return ConfigVar(
        key=key,
        is_secret=secret,
        has_value=True,
        value="" if secret else value,
        value_kind=kind,
        detail=detail,
        fingerprint=fingerprint(raw if raw is not None else (value or key)),
    )


def stored(env, key, **kw) -> ConfigVar:
    v = var(key, **kw)
    return ConfigVarFactory(
        environment=env,
        key=key,
        is_secret=v.is_secret,
        value=v.value,
        value_kind=v.value_kind,
        detail=v.detail,
        fingerprint=v.fingerprint,
        hint="",
    )


def names(targets, provider=None):
    return sorted({t.name for t in targets if provider is None or t.provider == provider})


# --- one variable ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_convex_shapes(seed):
    rng = random.Random(seed)
    name = convex_name(rng)
    team, project = token(rng, 6).lower(), token(rng, 8).lower()
    cases = [
        # as `npx convex dev` writes it, and with its trailing comment kept by a lenient reader
        (var("CONVEX_DEPLOYMENT", value=f"dev:{name}", kind="convex_deployment"), "dev"),
        (
            var(
                "CONVEX_DEPLOYMENT",
                value=f"dev:{name} # team: {team}, project: {project}",
                kind="text",
            ),
            "dev",
        ),
        (var("CONVEX_DEPLOYMENT", value=name, kind="text"), "prod"),  # legacy: no type prefix
        # a deploy key is a secret: only its detail "prod:<name>" is stored
        (
            var(
                "CONVEX_DEPLOY_KEY",
                secret=True,
                kind="convex_deploy_key",
                detail=f"prod:{name}",
                raw=f"prod:{name}|{token(rng)}",
            ),
            "prod",
        ),
        (var("NEXT_PUBLIC_CONVEX_URL", value=f"https://{name}.convex.cloud"), None),
        (var("NEXT_PUBLIC_CONVEX_SITE_URL", value=f"https://{name}.convex.site"), None),
        (var("VITE_CONVEX_URL", value=f"https://{name}.eu-west-1.convex.cloud"), None),
        # a secret URL: its host is the detail
        (var("CONVEX_SITE_URL", secret=True, detail=f"{name}.convex.site"), None),
    ]
    for v, kind in cases:
        targets = pointing.variable_targets(v)
        assert [(t.provider, t.name, t.source_key) for t in targets] == [("convex", name, v.key)], (
            v.key
        )
        (target,) = targets
        if kind:
            assert target.owns and target.describe() == f"Convex {kind}:{name}"
        else:
            assert not target.owns and target.via == pointing.URL


@pytest.mark.parametrize(
    "v",
    [
        var("CONVEX_DEPLOYMENT", value="local:local-acme-app", kind="text"),
        var("CONVEX_DEPLOYMENT", value="anonymous:anonymous-app", kind="text"),
        # a preview deploy key names a team and a project, not a deployment; a project key too
        var("CONVEX_DEPLOY_KEY", secret=True, kind="convex_deploy_key", detail="preview:acme:app"),
        var("CONVEX_DEPLOY_KEY", secret=True, kind="convex_deploy_key", detail="project:acme:app"),
        var("CONVEX_DEPLOY_KEY", secret=True, kind="random", detail=""),  # a legacy bare key
        var("API_URL", value="http://localhost:3210"),
        var("REDIS_URL", value="redis://localhost:6379/0", kind="redis_url"),
        var("REDIS_URL", secret=True, kind="redis_url", detail="redis"),  # a compose service
        var("QSTASH_URL", value="https://qstash.upstash.io"),
        var(
            "DATABASE_URL", secret=True, kind="database_url", detail="aws-0-eu.pooler.supabase.com"
        ),
        var("SITE_NAME", value="Acme (prod)", kind="text"),
        var("DATABASE_URL", value="${POSTGRES_URL}", kind="reference", detail="POSTGRES_URL"),
        ConfigVar(key="NEXT_PUBLIC_CONVEX_URL", has_value=False, required=True),
    ],
    ids=lambda v: f"{v.key}:{v.detail or v.value}",
)
def test_names_no_deployment(v):
    assert pointing.variable_targets(v) == set()


@pytest.mark.parametrize("seed", SEEDS)
def test_supabase_upstash_render_shapes(seed):
    rng = random.Random(seed)
    ref = supabase_ref(rng)
    db = f"{convex_name(rng)}-{rng.randint(10000, 99999)}"
    service = f"{rng.choice(ANIMALS)}-api-{token(rng, 4).lower()}"
    internal = f"red-{token(rng, 20).lower()}"
    cases = {
        ("supabase", ref, pointing.URL): [
            var("NEXT_PUBLIC_SUPABASE_URL", value=f"https://{ref}.supabase.co"),
            var("DATABASE_URL", secret=True, kind="database_url", detail=f"db.{ref}.supabase.co"),
            var("EDGE_URL", value=f"https://{ref}.functions.supabase.co/hello"),
        ],
        ("supabase", ref, pointing.JWT_REF): [
            # the anon key is public: its value is kept and its ref claim read
            var(
                "NEXT_PUBLIC_SUPABASE_ANON_KEY",
                value=supabase_jwt(rng, ref, "anon"),
                kind="supabase_anon_key",
            ),
            # the service-role key is a secret: only the detail the classifier keeps
            var(
                "SUPABASE_SERVICE_ROLE_KEY",
                secret=True,
                kind="supabase_service_key",
                detail=f"supabase:{ref}",
            ),
        ],
        ("upstash", db, pointing.URL): [
            var("UPSTASH_REDIS_REST_URL", value=f"https://{db}.upstash.io"),
            var("REDIS_URL", secret=True, kind="redis_url", detail=f"{db}.upstash.io"),
        ],
        ("render", service, pointing.URL): [
            var("NEXT_PUBLIC_API_URL", value=f"https://{service}.onrender.com/v1"),
        ],
        ("render", internal, pointing.URL): [
            var("CACHE_URL", secret=True, kind="redis_url", detail=internal),
        ],
        ("other", "redis-12345.c1.us-east-1.ec2.cloud.example.com", pointing.URL): [
            var(
                "SESSION_REDIS_URL",
                secret=True,
                kind="redis_url",
                detail="redis-12345.c1.us-east-1.ec2.cloud.example.com",
            ),
        ],
    }
    for (provider, name, via), variables in cases.items():
        for v in variables:
            assert {(t.provider, t.name, t.via) for t in pointing.variable_targets(v)} == {
                (provider, name, via)
            }, v.key


def test_a_list_of_urls_names_each_deployment():
    v = var(
        "CORS_ORIGINS",
        value="https://app.example.com,https://aaa-bbb-1.convex.site https://ccc-ddd-2.convex.site",
        kind="text",
    )
    assert names(pointing.variable_targets(v)) == ["aaa-bbb-1", "ccc-ddd-2"]


def test_a_secret_value_is_never_read():
    """Whatever ended up in ``value`` of a secret (it never should), pointing reads its detail."""
    v = var("CONVEX_URL_SECRET", secret=True, detail="")
    v.value = "https://leaked-name-1.convex.cloud"
    assert pointing.variable_targets(v) == set()


# --- one environment ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_points_at_reads_variables_and_registered_deployments(django_assert_num_queries):
    rng = random.Random(7)
    mine, other = distinct(convex_name, rng, 2)
    env = EnvironmentFactory(name="prod", tier=Tier.PRODUCTION)
    ProviderDeploymentFactory(
        environment=env,
        provider="convex",
        identifier=f"prod:{mine}",
        url=f"https://{mine}.convex.cloud",
    )
    ProviderDeploymentFactory(environment=env, provider="upstash", identifier="prod-cache")
    stored(env, "NEXT_PUBLIC_CONVEX_URL", value=f"https://{other}.convex.cloud")
    stored(env, "CONVEX_DEPLOY_KEY", secret=True, kind="convex_deploy_key", detail=f"prod:{mine}")
    targets = pointing.points_at(env)
    assert sorted((t.provider, t.name, t.source_key, t.via) for t in targets) == sorted(
        [
            ("convex", mine, "", pointing.REGISTERED),
            ("convex", mine, "CONVEX_DEPLOY_KEY", pointing.DEPLOY_KEY),
            ("convex", other, "NEXT_PUBLIC_CONVEX_URL", pointing.URL),
            ("upstash", "prod-cache", "", pointing.REGISTERED),
        ]
    )
    assert {t for t in targets if not t.source_key} == {
        t for t in pointing.points_at(env) if not t.source_key
    }
    assert all(t.source_key for t in pointing.points_at(env, registered=False))
    registered = next(t for t in targets if t.via == pointing.REGISTERED and t.provider == "convex")
    assert registered.describe() == f"Convex prod:{mine}"

    # Bulk: a project's environments loaded with their rows prefetched cost no further query.
    for i in range(3):
        e = EnvironmentFactory(project=env.project, name=f"dev{i}")
        stored(e, "CONVEX_DEPLOYMENT", value=f"dev:{convex_name(rng)}", kind="convex_deployment")
        ProviderDeploymentFactory(environment=e)
    with django_assert_num_queries(3):
        envs = list(
            Environment.objects.filter(project=env.project).prefetch_related(
                "variables", "deployments"
            )
        )
    with django_assert_num_queries(0):
        by_env = pointing.project_targets(envs)
    assert set(by_env) == {e.pk for e in envs}
    assert all(names(by_env[e.pk], "convex") for e in envs)


def test_own_deployments_prefers_explicit_claims():
    claim = Target("convex", "aaa-bbb-1", "CONVEX_DEPLOYMENT", pointing.DEPLOYMENT_VAR)
    used = Target("convex", "ccc-ddd-2", "NEXT_PUBLIC_CONVEX_URL", pointing.URL)
    supa = Target("supabase", "x" * 20, "SUPABASE_URL", pointing.URL)
    assert pointing.own_deployments({claim, used, supa}) == sorted([claim, supa])


# --- conflicts inside one environment ----------------------------------------------------------
def _conflicts(*variables, registered=()):
    targets = set()
    for v in variables:
        targets |= pointing.variable_targets(v)
    for provider, name in registered:
        targets.add(Target(provider, name, "", pointing.REGISTERED))
    return pointing.conflicts(None, targets)


@pytest.mark.parametrize("seed", SEEDS)
def test_deploy_key_against_url_is_a_conflict(seed):
    rng = random.Random(seed)
    right, wrong = distinct(convex_name, rng, 2)
    key = var("CONVEX_DEPLOY_KEY", secret=True, kind="convex_deploy_key", detail=f"prod:{wrong}")
    url = var("NEXT_PUBLIC_CONVEX_URL", value=f"https://{right}.convex.cloud")
    site = var("NEXT_PUBLIC_CONVEX_SITE_URL", value=f"https://{right}.convex.site")

    (tie,) = _conflicts(key, url)  # one each: no way to tell which is meant
    assert tie.provider == "convex" and tie.expected == ""
    assert tie.names == {wrong: ["CONVEX_DEPLOY_KEY"], right: ["NEXT_PUBLIC_CONVEX_URL"]}
    assert tie.flagged == ("CONVEX_DEPLOY_KEY", "NEXT_PUBLIC_CONVEX_URL")

    (most,) = _conflicts(key, url, site)  # two variables agree
    assert most.expected == right and most.flagged == ("CONVEX_DEPLOY_KEY",)

    (known,) = _conflicts(key, url, site, registered=[("convex", wrong)])  # registered decides
    assert known.expected == wrong
    assert known.flagged == ("NEXT_PUBLIC_CONVEX_SITE_URL", "NEXT_PUBLIC_CONVEX_URL")

    assert _conflicts(url, site) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_supabase_ref_disagreement_but_not_two_redis_databases(seed):
    rng = random.Random(seed)
    ref, other_ref = distinct(supabase_ref, rng, 2)
    url = var("NEXT_PUBLIC_SUPABASE_URL", value=f"https://{ref}.supabase.co")
    anon = var(
        "NEXT_PUBLIC_SUPABASE_ANON_KEY",
        value=supabase_jwt(rng, other_ref, "anon"),
        kind="supabase_anon_key",
    )
    (conflict,) = _conflicts(url, anon)
    assert conflict.provider == "supabase" and set(conflict.names) == {ref, other_ref}
    # An app may use two Redis databases or call two Render services.
    cache = var("REDIS_URL", secret=True, kind="redis_url", detail="cache-a-1.upstash.io")
    queue = var("QUEUE_REDIS_URL", secret=True, kind="redis_url", detail="queue-b-2.upstash.io")
    api = var("API_URL", value="https://api-one.onrender.com")
    hooks = var("HOOKS_URL", value="https://hooks-two.onrender.com")
    assert _conflicts(cache, queue, api, hooks) == []


# --- the hygiene rules -------------------------------------------------------------------------
@pytest.fixture
def three(db):
    project = ProjectFactory(name="pointing.app", slug="pointing-app")
    return {
        name: EnvironmentFactory(project=project, name=name, tier=tier)
        for name, tier in (
            ("dev", Tier.DEVELOPMENT),
            ("preview", Tier.PREVIEW),
            ("prod", Tier.PRODUCTION),
        )
    }


def found(project, rule):
    return [f for f in hygiene.check_project(project) if f.rule == rule]


@pytest.mark.parametrize("seed", SEEDS)
def test_production_names_a_deployment_known_only_from_devs_variables(three, seed):
    rng = random.Random(seed)
    dev_name, prod_name = distinct(convex_name, rng, 2)
    dev, prod = three["dev"], three["prod"]
    stored(dev, "CONVEX_DEPLOYMENT", value=f"dev:{dev_name}", kind="convex_deployment")
    stored(prod, "CONVEX_DEPLOYMENT", value=f"prod:{prod_name}", kind="convex_deployment")
    stored(prod, "NEXT_PUBLIC_CONVEX_URL", value=f"https://{dev_name}.convex.cloud")
    assert not dev.deployments.exists() and not prod.deployments.exists()

    hits = found(prod.project, "production_points_at_non_production")
    assert [(f.environment, f.key, f.severity) for f in hits] == [
        ("prod", "NEXT_PUBLIC_CONVEX_URL", "error")
    ]
    assert dev_name in hits[0].message and "dev (development)" in hits[0].message
    assert "CONVEX_DEPLOYMENT" in hits[0].message
    # prod's CONVEX_DEPLOYMENT and its URL disagree as well
    conflict = found(prod.project, "conflicting_deployments")
    assert {f.key for f in conflict} == {"CONVEX_DEPLOYMENT", "NEXT_PUBLIC_CONVEX_URL"}

    prod.variables.filter(key="NEXT_PUBLIC_CONVEX_URL").update(
        value=f"https://{prod_name}.convex.cloud"
    )
    assert [f for f in hygiene.check_project(prod.project) if f.severity == "error"] == []


@pytest.mark.parametrize(
    "provider,dev_key,prod_key",
    [
        ("supabase", "NEXT_PUBLIC_SUPABASE_URL", "NEXT_PUBLIC_SUPABASE_URL"),
        ("supabase", "NEXT_PUBLIC_SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"),
        ("upstash", "UPSTASH_REDIS_REST_URL", "REDIS_URL"),
        ("render", "API_URL", "API_URL"),
    ],
)
def test_any_provider_named_by_a_non_production_environment(three, provider, dev_key, prod_key):
    rng = random.Random(f"{provider}{prod_key}")
    name = {
        "supabase": supabase_ref,
        "upstash": lambda r: f"{convex_name(r)}-{r.randint(10000, 99999)}",
        "render": lambda r: f"{r.choice(ANIMALS)}-api",
    }[provider](rng)
    url = {
        "supabase": f"https://{name}.supabase.co",
        "upstash": f"https://{name}.upstash.io",
        "render": f"https://{name}.onrender.com",
    }[provider]
    stored(three["preview"], dev_key, value=url)
    if prod_key == "SUPABASE_SERVICE_ROLE_KEY":
        secret = supabase_jwt(rng, name, "service_role")
        stored(
            three["prod"],
            prod_key,
            secret=True,
            kind="supabase_service_key",
            detail=f"supabase:{name}",
            raw=secret,
        )
    elif prod_key == "REDIS_URL":
        secret = f"rediss://default:{token(rng, 32)}@{name}.upstash.io:6379"
        stored(
            three["prod"],
            prod_key,
            secret=True,
            kind="redis_url",
            detail=f"{name}.upstash.io",
            raw=secret,
        )
    else:
        secret = None
        stored(three["prod"], prod_key, value=url)
    hits = found(three["prod"].project, "production_points_at_non_production")
    assert [(f.key, f.environment) for f in hits] == [(prod_key, "prod")]
    assert name in hits[0].message and "preview (preview)" in hits[0].message
    if secret:
        assert all(secret not in f.message for f in hygiene.check_project(three["prod"].project))


def test_a_non_production_environment_using_productions_deployment_is_not_productions_fault(three):
    """preview reads prod's database through a URL; prod claims it as its own: prod is fine."""
    rng = random.Random(5)
    name = convex_name(rng)
    ProviderDeploymentFactory(environment=three["prod"], identifier=f"prod:{name}")
    stored(three["prod"], "NEXT_PUBLIC_CONVEX_URL", value=f"https://{name}.convex.cloud")
    stored(three["preview"], "NEXT_PUBLIC_CONVEX_URL", value=f"https://{name}.convex.cloud")
    assert found(three["prod"].project, "production_points_at_non_production") == []


def test_two_production_environments_are_not_compared(db):
    project = ProjectFactory(name="twins.app", slug="twins-app")
    for name in ("prod-eu", "prod-us"):
        env = EnvironmentFactory(project=project, name=name, tier=Tier.PRODUCTION)
        stored(env, "CONVEX_DEPLOYMENT", value="prod:shared-thing-1", kind="convex_deployment")
    assert hygiene.check_project(project) == []


@pytest.mark.parametrize("seed", SEEDS)
def test_conflict_finding_names_variables_and_deployments_never_the_secret(three, seed):
    rng = random.Random(seed)
    right, wrong = distinct(convex_name, rng, 2)
    prod = three["prod"]
    deploy_key = f"prod:{wrong}|{token(rng, 64)}"
    stored(
        prod,
        "CONVEX_DEPLOY_KEY",
        secret=True,
        kind="convex_deploy_key",
        detail=f"prod:{wrong}",
        raw=deploy_key,
    )
    stored(prod, "NEXT_PUBLIC_CONVEX_URL", value=f"https://{right}.convex.cloud")
    stored(prod, "NEXT_PUBLIC_CONVEX_SITE_URL", value=f"https://{right}.convex.site")
    (finding,) = hygiene.check_environment(prod)
    assert (finding.rule, finding.severity, finding.key) == (
        "conflicting_deployments",
        "error",
        "CONVEX_DEPLOY_KEY",
    )
    assert wrong in finding.message and right in finding.message
    assert "(NEXT_PUBLIC_CONVEX_SITE_URL, NEXT_PUBLIC_CONVEX_URL)" in finding.message
    assert deploy_key.split("|")[1] not in finding.message


def test_check_project_query_count_with_pointing(three, django_assert_max_num_queries):
    rng = random.Random(11)
    for env in three.values():
        ProviderDeploymentFactory(environment=env, identifier=f"dev:{convex_name(rng)}")
        for i in range(5):
            stored(env, f"URL_{i}", value=f"https://{convex_name(rng)}.convex.cloud")
    with django_assert_max_num_queries(4):
        hygiene.check_project(three["dev"].project)


@pytest.mark.parametrize("seed", SEEDS)
def test_promotion_checklist_reads_what_the_source_names_as_its_own(three, seed):
    from environments import drift

    rng = random.Random(seed)
    dev_name, prod_name = distinct(convex_name, rng, 2)
    dev, prod = three["dev"], three["prod"]
    stored(dev, "CONVEX_DEPLOYMENT", value=f"dev:{dev_name}", kind="convex_deployment")
    stored(prod, "CONVEX_DEPLOYMENT", value=f"prod:{prod_name}", kind="convex_deployment")
    for env in (dev, prod):
        stored(env, "NEXT_PUBLIC_CONVEX_URL", value=f"https://{dev_name}.convex.cloud")
    items = {(i.action, i.key): i.reason for i in drift.promotion_checklist(dev, prod)}
    assert items[("change", "NEXT_PUBLIC_CONVEX_URL")] == (
        f"still points at dev's deployment ({dev_name})"
    )
    # preview merely uses prod's deployment: promoting preview → prod asks nothing of prod
    stored(three["preview"], "NEXT_PUBLIC_CONVEX_URL", value=f"https://{prod_name}.convex.cloud")
    prod.variables.filter(key="NEXT_PUBLIC_CONVEX_URL").update(
        value=f"https://{prod_name}.convex.cloud"
    )
    assert drift.promotion_checklist(three["preview"], prod) == [
        drift.ChecklistItem(
            "remove", "CONVEX_DEPLOYMENT", "not in preview: remove it or add it there", False
        )
    ]
