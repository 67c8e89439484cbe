"""Drift between environments: key differences, the project matrix, the promotion checklist."""

from dataclasses import dataclass, field

from .choices import Tier
from .kinds import LIVE_KINDS, TEST_KINDS, deployment_names, mentions
from .models import Environment, Project

TIER_ORDER = {Tier.DEVELOPMENT: 0, Tier.PREVIEW: 1, Tier.STAGING: 2, Tier.PRODUCTION: 3}


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
        cells = []
        for env in envs:
            var = by_env[env.pk].get(key)
            if var is None:
                cells.append(Cell("required_missing" if required else "missing"))
                continue
            shared = [
                o.name
                for o, ov in present
                if o.pk != env.pk
                and o.tier != env.tier
                and var.is_secret
                and var.has_value
                and ov.has_value
                and ov.fingerprint == var.fingerprint
            ]
            status = "present" if var.has_value else ("required_missing" if required else "empty")
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


def promotion_checklist(source: Environment, target: Environment) -> list[ChecklistItem]:
    """What to set, change or remove in ``target`` so it matches ``source`` (no values shown)."""
    src = {v.key: v for v in source.variables.all()}
    dst = {v.key: v for v in target.variables.all()}
    source_tokens = set()
    for dep in source.deployments.all():
        source_tokens |= deployment_names(dep.identifier, dep.url)
    items: list[ChecklistItem] = []
    for key in sorted(src):
        s = src[key]
        t = dst.get(key)
        if t is None or not t.has_value:
            if s.is_secret:
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
        if (
            s.is_secret
            and t.is_secret
            and s.fingerprint == t.fingerprint
            and source.tier != target.tier
        ):
            problems.append(f"same secret as {source.name}: generate a new one for {target.name}")
        if target.tier == Tier.PRODUCTION and t.value_kind in TEST_KINDS:
            problems.append("holds a test-mode key: use the live key")
        if target.tier != Tier.PRODUCTION and t.value_kind in LIVE_KINDS:
            problems.append("holds a live key outside production")
        haystack = f"{'' if t.is_secret else t.value} {t.detail}".lower()
        hits = sorted(tok for tok in source_tokens if mentions(haystack, tok))
        if hits and source.tier != target.tier:
            problems.append(f"still points at {source.name}'s deployment ({hits[0]})")
        if problems:
            items.append(ChecklistItem("change", key, "; ".join(problems), t.is_secret))
        elif not s.is_secret and not t.is_secret and s.value != t.value:
            items.append(
                ChecklistItem(
                    "review",
                    key,
                    f"differs: {source.name} {s.value!r}, {target.name} {t.value!r}",
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


def checklist_markdown(source: Environment, target: Environment, items: list[ChecklistItem]) -> str:
    """The checklist as Markdown task items, to paste into a migration plan."""
    lines = [
        f"### Promote {source.project.name}: {source.name} → {target.name}",
        "",
    ]
    for item in items:
        secret = " (secret: take it from the secret manager)" if item.is_secret else ""
        lines.append(f"- [ ] **{item.action}** `{item.key}`{secret} — {item.reason}")
    if not items:
        lines.append(f"- [x] nothing to do: {target.name} matches {source.name}")
    return "\n".join(lines) + "\n"
