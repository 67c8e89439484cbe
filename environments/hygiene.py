"""Hygiene rules over a project's inventory.

``check_environment(environment)`` and ``check_project(project)`` return :class:`Finding` lists;
other apps (runbook checks, the dashboard, ``env_check``) call them. Rules read fingerprints,
kinds and public details only: they never need a secret's value.
"""

from dataclasses import asdict, dataclass
from datetime import timedelta

from django.utils import timezone

from . import pointing
from .choices import Provider, Severity, Tier
from .kinds import LIVE_KINDS, PUBLISHABLE_KINDS, TEST_KINDS, deployment_names, mentions
from .models import ConfigVar, Environment, Project

SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True)
class Finding:
    severity: str
    rule: str
    key: str
    message: str
    environment: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _load(project: Project) -> list[Environment]:
    """Every environment of the project with its variables and deployments, in three queries."""
    return list(
        Environment.objects.filter(project=project)
        .select_related("project")
        .prefetch_related("variables", "deployments")
        .order_by("name")
    )


def _kind_label(kind: str) -> str:
    from .choices import ValueKind

    return ValueKind(kind).label if kind in ValueKind.values else kind


def _compares_by_fingerprint(var: ConfigVar) -> bool:
    """Whether ``var``'s fingerprint stands for its value. A reference's (``${OTHER}``, even one
    marked secret) is the template's, the same in every environment: what it resolves to is
    compared through ``OTHER`` itself."""
    return var.has_value and bool(var.fingerprint) and var.value_kind != pointing.REFERENCE_KIND


def _fingerprint_index(envs: list[Environment]) -> dict[str, list]:
    """fingerprint → [(environment, key)] over every valued variable of the project."""
    index: dict[str, list] = {}
    for env in envs:
        for var in env.variables.all():
            if _compares_by_fingerprint(var):
                index.setdefault(var.fingerprint, []).append((env, var.key))
    return index


def _names_their_deployment(var, mine_targets, my_own, theirs, other) -> str | None:
    """A message when ``var`` (of a production environment) names a deployment ``other`` names as
    its own; None otherwise. A deployment production itself claims (registered, its
    ``CONVEX_DEPLOYMENT``, its deploy key) and ``other`` merely uses is not ``other``'s."""
    for target in sorted(t for t in mine_targets if t.source_key == var.key):
        claims = pointing.claims_on(target, theirs)
        if not claims:
            continue
        if target.ident in my_own and not any(c.owns for c in claims):
            continue
        claim = claims[0]
        where = (
            f"the registered {claim.describe()}"
            if not claim.source_key
            else f"its {claim.source_key} ({claim.via})"
        )
        return (
            f"{var.key} in production points at {target.describe()}, which "
            f"{other.name} ({other.get_tier_display().lower()}) names as its own: {where}."
        )
    return None


def _rules(
    env: Environment, siblings: list[Environment], now, fingerprints=None, targets=None
) -> list[Finding]:
    findings: list[Finding] = []
    name = env.name
    variables = list(env.variables.all())
    mine = {v.key: v for v in variables}
    others = [e for e in siblings if e.pk != env.pk]
    if fingerprints is None:
        fingerprints = _fingerprint_index(siblings)
    if targets is None:
        targets = pointing.project_targets(siblings)

    def add(severity, rule, key, message):
        findings.append(Finding(severity, rule, key, message, name))

    for var in variables:
        kind = var.value_kind
        if env.tier == Tier.PRODUCTION and kind in TEST_KINDS:
            add(
                Severity.ERROR,
                "test_key_in_production",
                var.key,
                f"{var.key} in production holds a test-mode key ({_kind_label(kind)}).",
            )
        if env.tier != Tier.PRODUCTION and kind in LIVE_KINDS:
            severity = Severity.WARNING if kind in PUBLISHABLE_KINDS else Severity.ERROR
            add(
                severity,
                "live_key_outside_production",
                var.key,
                f"{var.key} in {env.get_tier_display().lower()} holds a live key "
                f"({_kind_label(kind)}); live keys belong to production only.",
            )
        if var.is_secret and _compares_by_fingerprint(var):
            elsewhere: dict[Environment, list[str]] = {}
            for other, other_key in fingerprints.get(var.fingerprint, ()):
                if other.pk != env.pk and other.tier != env.tier:
                    elsewhere.setdefault(other, []).append(other_key)
            for other, same in elsewhere.items():
                add(
                    Severity.ERROR,
                    "shared_secret_across_tiers",
                    var.key,
                    f"{var.key} has the same secret value as {', '.join(same)} in "
                    f"{other.name} ({other.get_tier_display().lower()}): each tier needs "
                    "its own secret.",
                )
        if var.required and not var.has_value:
            add(
                Severity.ERROR,
                "required_missing",
                var.key,
                f"{var.key} is required but has no value in {name}.",
            )
        if var.rotation_overdue(now):
            due = var.rotation_due_at()
            add(
                Severity.WARNING,
                "rotation_overdue",
                var.key,
                f"{var.key} was due for rotation on {due:%Y-%m-%d} "
                f"(every {var.rotation_period_days} days).",
            )

    mine_targets = targets.get(env.pk, set())
    if env.tier == Tier.PRODUCTION:
        my_own = {t.ident for t in mine_targets if t.owns}
        for other in others:
            if other.tier == Tier.PRODUCTION:
                continue
            theirs = pointing.own_deployments(targets.get(other.pk, set()))
            tokens = set()
            for dep in other.deployments.all():
                tokens |= {(t, str(dep)) for t in deployment_names(dep.identifier, dep.url)}
            if other.url:
                tokens |= {(t, f"{other.name} URL") for t in deployment_names("", other.url)}
            for var in variables:
                message = _names_their_deployment(var, mine_targets, my_own, theirs, other)
                if message is None:
                    haystack = f"{var.value if not var.is_secret else ''} {var.detail}".lower()
                    label = next((lb for tok, lb in sorted(tokens) if mentions(haystack, tok)), "")
                    if label:
                        message = (
                            f"{var.key} in production points at {label}, a deployment of "
                            f"{other.name} ({other.get_tier_display().lower()})."
                        )
                if message:
                    add(Severity.ERROR, "production_points_at_non_production", var.key, message)

    for conflict in pointing.conflicts(env, mine_targets):
        provider = Provider(conflict.provider).label
        for key in conflict.flagged:
            own = sorted(n for n, keys in conflict.names.items() if key in keys)
            elsewhere = "; ".join(
                f"{n} ({', '.join(k for k in keys if k != key)})"
                for n, keys in conflict.names.items()
                if n not in own and any(k != key for k in keys)
            )
            add(
                Severity.ERROR,
                "conflicting_deployments",
                key,
                f"{key} in {name} names {provider} deployment {', '.join(own)}, but other "
                f"variables of {name} name {elsewhere}: one environment talks to one "
                f"{provider} deployment.",
            )

    required_elsewhere: dict[str, str] = {}
    present_elsewhere: dict[str, str] = {}
    for other in others:
        for o in other.variables.all():
            present_elsewhere.setdefault(o.key, other.name)
            if o.required:
                required_elsewhere.setdefault(o.key, other.name)
    for key in sorted(set(present_elsewhere) - set(mine)):
        if key in required_elsewhere:
            add(
                Severity.ERROR,
                "required_missing",
                key,
                f"{key} is required (in {required_elsewhere[key]}) but missing from {name}.",
            )
        else:
            add(
                Severity.WARNING,
                "missing_in_environment",
                key,
                f"{key} exists in {present_elsewhere[key]} but is missing from {name}.",
            )
    return findings


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(
        findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.environment, f.key, f.rule)
    )


def check_environment(
    environment: Environment, *, environments: list[Environment] | None = None
) -> list[Finding]:
    """Findings for one environment (it is compared with its project's other environments).

    ``environments``: the project's environments as :func:`load_project` gives them, when the
    caller has them already (the environment page shows the same variables and deployments).
    """
    envs = environments if environments is not None else _load(environment.project)
    target = next(e for e in envs if e.pk == environment.pk)
    return _sorted(_rules(target, envs, timezone.now()))


def load_project(project: Project) -> list[Environment]:
    """The project's environments with their variables and deployments (three queries)."""
    return _load(project)


def check_project(project: Project, *, environments: list | None = None) -> list[Finding]:
    """Findings for every environment of a project.

    ``environments`` may pass the project's environments already loaded with their variables
    and deployments prefetched (a page that shows the matrix too), saving the queries.
    """
    envs = environments if environments is not None else _load(project)
    now = timezone.now()
    index = _fingerprint_index(envs)
    targets = pointing.project_targets(envs)
    findings = []
    for env in envs:
        findings.extend(_rules(env, envs, now, index, targets))
    return _sorted(findings)


def rotation_due(*, within_days: int = 14, limit: int = 20) -> list[ConfigVar]:
    """Variables whose rotation is overdue or due within ``within_days`` (for the dashboard)."""
    now = timezone.now()
    horizon = now + timedelta(days=within_days)
    candidates = ConfigVar.objects.with_rotation().select_related("environment__project")
    due = [v for v in candidates if v.rotation_due_at() <= horizon]
    due.sort(key=lambda v: v.rotation_due_at())
    return due[:limit]
