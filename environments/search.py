"""Global search providers (``opsportal.search``): projects, environments, variable keys.

Small tables (tens of projects, hundreds of variables): a bounded ``icontains`` each.
"""

from urllib.parse import quote

from opsportal.search import Hit, Provider, Query, contains

from .models import ConfigVar, Environment, Project


def _projects(query: Query, limit: int) -> list[Hit]:
    rows = Project.objects.filter(contains("name", "slug", text=query.text)).order_by("name")
    return [Hit(p.name, p.get_absolute_url(), "project") for p in rows.only("name", "slug")[:limit]]


def _environments(query: Query, limit: int) -> list[Hit]:
    rows = (
        Environment.objects.filter(contains("name", "branch", "project__name", text=query.text))
        .select_related("project")
        .only("name", "tier", "branch", "project__name")
        .order_by("project__name", "name")[:limit]
    )
    return [
        Hit(
            str(e),
            e.get_absolute_url(),
            " · ".join(x for x in (e.get_tier_display(), e.branch) if x),
        )
        for e in rows
    ]


def _variables(query: Query, limit: int) -> list[Hit]:
    rows = (
        ConfigVar.objects.filter(key__icontains=query.text)
        .select_related("environment__project")
        .only(
            "key",
            "is_secret",
            "environment__name",
            "environment__tier",
            "environment__project__name",
        )
        .order_by("key", "environment__project__name", "environment__name")[:limit]
    )
    return [
        Hit(
            v.key,
            f"{v.environment.get_absolute_url()}#var-{quote(v.key)}",
            f"{v.environment} · {'secret' if v.is_secret else 'value'}",
        )
        for v in rows
    ]


PROVIDERS = [
    Provider("projects", "Projects", _projects, "environments.view_project", order=10),
    Provider(
        "environments", "Environments", _environments, "environments.view_environment", order=20
    ),
    Provider("variables", "Variable keys", _variables, "environments.view_configvar", order=30),
]
