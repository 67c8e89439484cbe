"""Drift between environments: key differences, the project matrix, the promotion checklist.

A variable whose value is only ``${OTHER}`` is stored as a reference (value kind ``reference``,
detail ``OTHER``). Drift compares what a reference resolves to — ``OTHER`` in the same
environment, followed through chains — rather than the template, which reads the same
everywhere; a reference whose ``OTHER`` is not in its environment resolves to nothing.
"""

from dataclasses import dataclass, field

from opsportal.exports import single_line

from . import pointing
from .choices import Tier
from .kinds import LIVE_KINDS, TEST_KINDS, deployment_names, mentions
from .models import ConfigVar, Environment, Project

TIER_ORDER = {Tier.DEVELOPMENT: 0, Tier.PREVIEW: 1, Tier.STAGING: 2, Tier.PRODUCTION: 3}
REFERENCE = pointing.REFERENCE_KIND


def is_reference(var: ConfigVar | None) -> bool:
    return var is not None and var.value_kind == REFERENCE and bool(var.detail)


def resolve(var: ConfigVar | None, variables: dict) -> ConfigVar | None:
    """The variable whose value ``var`` has: itself, or the one a reference names in the same
    environment (``variables``: key → variable), through chains. None when a reference's
    target is not there, or the references loop."""
    seen = set()
    while is_reference(var):
        if var.key in seen:
            return None
        seen.add(var.key)
        var = variables.get(var.detail)
    return var


def _same_secret(a: ConfigVar | None, b: ConfigVar | None) -> bool:
    """Both resolve to a valued secret with the same fingerprint."""
    return (
        a is not None
        and b is not None
        and a.is_secret
        and a.has_value
        and b.has_value
        and bool(a.fingerprint)
        and a.fingerprint == b.fingerprint
    )


def key_drift(a: Environment, b: Environment) -> dict:
    """Keys only in ``a`` and only in ``b`` (sorted)."""
    keys_a = set(a.variables.values_list("key", flat=True))
    keys_b = set(b.variables.values_list("key", flat=True))
    return {"only_in_a": sorted(keys_a - keys_b), "only_in_b": sorted(keys_b - keys_a)}


@dataclass
class Cell:
    status: str  # present, missing, required_missing, empty
    is_secret: bool = False
    shared_with: list = field(default_factory=list)
    label: str = ""
    var_id: int | None = None
    reference: str = ""  # OTHER, for a variable whose value is only ${OTHER}
    resolved: bool = True  # False: the reference's OTHER is not in this environment


@dataclass
class Matrix:
    environments: list
    rows: list  # (key, required_anywhere, [Cell per environment])

    @property
    def drift_count(self) -> int:
        return sum(
            1
            for _, _, cells in self.rows
            if any(c.status != "present" or c.shared_with for c in cells)
        )


def project_environments(project: Project) -> list[Environment]:
    envs = list(
        Environment.objects.filter(project=project)
        .prefetch_related("variables", "deployments")
        .select_related("project")
    )
    envs.sort(key=lambda e: (TIER_ORDER.get(e.tier, 9), e.name))
    return envs


def matrix(project: Project, envs: list[Environment] | None = None) -> Matrix:
    envs = envs if envs is not None else project_environments(project)
    by_env = {e.pk: {v.key: v for v in e.variables.all()} for e in envs}
    keys = sorted({k for vars_ in by_env.values() for k in vars_})
    rows = []
    for key in keys:
        present = [(e, by_env[e.pk][key]) for e in envs if key in by_env[e.pk]]
        required = any(v.required for _, v in present)
        resolved = {e.pk: resolve(v, by_env[e.pk]) for e, v in present}
        cells = []
        for env in envs:
            var = by_env[env.pk].get(key)
            if var is None:
                cells.append(Cell("required_missing" if required else "missing"))
                continue
            value = resolved[env.pk]
            shared = [
                o.name
                for o, _ov in present
                if o.pk != env.pk and o.tier != env.tier and _same_secret(value, resolved[o.pk])
            ]
            status = "present" if var.has_value else ("required_missing" if required else "empty")
            if is_reference(var):
                cells.append(
                    Cell(
                        status,
                        False,
                        shared,
                        f"→ {var.detail}",
                        var.pk,
                        reference=var.detail,
                        resolved=value is not None,
                    )
                )
                continue
            label = var.get_value_kind_display() if var.is_secret else var.value
            cells.append(Cell(status, var.is_secret, shared, label, var.pk))
        rows.append((key, required, cells))
    return Matrix(envs, rows)


@dataclass
class ChecklistItem:
    action: str  # set, change, remove, review
    key: str
    reason: str
    is_secret: bool


def _shown(var: ConfigVar) -> str:
    """How a checklist names a public value: a reference as ``→ OTHER``, else the value."""
    return f"→ {var.detail}" if is_reference(var) else repr(var.value)


def promotion_checklist(source: Environment, target: Environment) -> list[ChecklistItem]:
    """What to set, change or remove in ``target`` so it matches ``source`` (no values shown).

    References are compared by what they resolve to in their own environment. "Still points at
    the source's deployment" reads what the source names as its own (registered deployments,
    ``CONVEX_DEPLOYMENT``, a deploy key, or the URLs it uses) — see :mod:`environments.pointing`.
    """
    src = {v.key: v for v in source.variables.all()}
    dst = {v.key: v for v in target.variables.all()}
    source_tokens = set()
    for dep in source.deployments.all():
        source_tokens |= deployment_names(dep.identifier, dep.url)
    source_own = pointing.own_deployments(pointing.points_at(source))
    target_own = {t.ident for t in pointing.points_at(target) if t.owns}
    items: list[ChecklistItem] = []
    for key in sorted(src):
        s = src[key]
        t = dst.get(key)
        rs, rt = resolve(s, src), resolve(t, dst)
        if t is None or not t.has_value:
            if is_reference(s):
                reason = f"missing in {target.name}; {source.name} has {_shown(s)}"
                if s.detail not in dst:
                    reason += f" ({s.detail} is not in {target.name} either)"
            elif s.is_secret:
                reason = (
                    f"missing in {target.name}: create a {target.get_tier_display().lower()} "
                    f"value ({s.get_value_kind_display() or 'secret'}) in the secret manager"
                )
                if target.tier != source.tier:
                    reason += f"; do not copy the {source.name} value"
            else:
                reason = f"missing in {target.name}; {source.name} has {s.value!r}"
            items.append(ChecklistItem("set", key, reason, s.is_secret))
            continue
        problems = []
        if is_reference(t) and rt is None and (rs is not None or s.detail != t.detail):
            problems.append(f"refers to {t.detail}, which {target.name} does not have")
        if source.tier != target.tier and _same_secret(rs, rt):
            via = f" (through {t.detail})" if is_reference(t) else ""
            problems.append(
                f"same secret as {source.name}{via}: generate a new one for {target.name}"
            )
        effective = rt if rt is not None else t
        if target.tier == Tier.PRODUCTION and effective.value_kind in TEST_KINDS:
            problems.append("holds a test-mode key: use the live key")
        if target.tier != Tier.PRODUCTION and effective.value_kind in LIVE_KINDS:
            problems.append("holds a live key outside production")
        if source.tier != target.tier:
            hit = _points_at_source(t, source_own, target_own, source_tokens)
            if hit:
                problems.append(f"still points at {source.name}'s deployment ({hit})")
        if problems:
            items.append(ChecklistItem("change", key, "; ".join(problems), t.is_secret))
            continue
        secret = (rs or s).is_secret or (rt or t).is_secret
        if secret or (is_reference(s) and is_reference(t) and s.detail == t.detail):
            continue
        if is_reference(s) or is_reference(t):
            same = rs is not None and rt is not None and rs.value == rt.value
        else:
            same = s.value == t.value
        if not same:
            items.append(
                ChecklistItem(
                    "review",
                    key,
                    f"differs: {source.name} {_shown(s)}, {target.name} {_shown(t)}",
                    False,
                )
            )
    for key in sorted(set(dst) - set(src)):
        items.append(
            ChecklistItem(
                "remove",
                key,
                f"not in {source.name}: remove it or add it there",
                dst[key].is_secret,
            )
        )
    return items


def _points_at_source(var, source_own, target_own, source_tokens) -> str:
    """The name of a source deployment ``var`` names, or "" (a deployment the target itself
    claims as its own and the source merely uses is the target's)."""
    for found in sorted(pointing.variable_targets(var)):
        claims = pointing.claims_on(found, source_own)
        if claims and not (found.ident in target_own and not any(c.owns for c in claims)):
            return found.name
    haystack = f"{'' if var.is_secret else var.value} {var.detail}".lower()
    hits = sorted(tok for tok in source_tokens if mentions(haystack, tok))
    return hits[0] if hits else ""


def checklist_markdown(source: Environment, target: Environment, items: list[ChecklistItem]) -> str:
    """The checklist as Markdown task items, to paste into a migration plan."""
    # names and reasons stay on their line: a line break there would add a task item
    project, src, dst = (single_line(n) for n in (source.project.name, source.name, target.name))
    lines = [f"### Promote {project}: {src} → {dst}", ""]
    for item in items:
        secret = " (secret: take it from the secret manager)" if item.is_secret else ""
        lines.append(f"- [ ] **{item.action}** `{item.key}`{secret} — {single_line(item.reason)}")
    if not items:
        lines.append(f"- [x] nothing to do: {dst} matches {src}")
    return "\n".join(lines) + "\n"
