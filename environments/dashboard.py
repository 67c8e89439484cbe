"""Dashboard panel: environments needing attention, change requests waiting for me, rotations."""

from itertools import groupby

from .hygiene import check_project, rotation_due
from .models import ChangeRequest, Environment, Project

MAX_PROJECTS = 20


def attention() -> list[dict]:
    """Per environment: hygiene errors, drift (keys missing) and rotation findings."""
    items = {}
    projects = list(Project.objects.order_by("pk")[:MAX_PROJECTS])
    # Every project's environments with variables and deployments in three queries, however
    # many projects there are (check_project would load each project on its own).
    loaded = (
        Environment.objects.filter(project__in=projects)
        .select_related("project")
        .prefetch_related("variables", "deployments")
        .order_by("project_id", "name")
    )
    by_project = {pid: list(envs) for pid, envs in groupby(loaded, key=lambda e: e.project_id)}
    for project in projects:
        loaded_envs = by_project.get(project.pk, [])
        envs = {e.name: e for e in loaded_envs}
        for f in check_project(project, environments=loaded_envs):
            env = envs.get(f.environment)
            if env is None or f.severity == "info":
                continue
            item = items.setdefault(
                env.pk, {"environment": env, "errors": 0, "drift": 0, "rotation": 0, "first": ""}
            )
            if f.rule == "rotation_overdue":
                item["rotation"] += 1
            elif f.rule == "missing_in_environment":
                item["drift"] += 1
            elif f.severity == "error":
                item["errors"] += 1
            if f.severity == "error" and not item["first"]:
                item["first"] = f.message
            item["first"] = item["first"] or f.message
    return sorted(items.values(), key=lambda i: (-i["errors"], -i["drift"], str(i["environment"])))


def panels(request) -> list[dict]:
    user = request.user
    if not user.has_perm("environments.view_environment"):
        return []
    can_approve = user.has_perm("environments.approve_changerequest")
    awaiting = (
        list(
            ChangeRequest.objects.awaiting(user).select_related("environment__project", "author")[
                :10
            ]
        )
        if can_approve
        else []
    )
    return [
        {
            "template": "environments/panel.html",
            "attention": attention(),
            "awaiting": awaiting,
            "can_approve": can_approve,
            "rotation_due": rotation_due(),
        }
    ]
