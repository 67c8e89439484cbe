"""Dashboard panel: environments needing attention, change requests waiting for me, rotations."""

from .hygiene import check_project, rotation_due
from .models import ChangeRequest, Project

MAX_PROJECTS = 20


def attention() -> list[dict]:
    """Per environment: hygiene errors, drift (keys missing) and rotation findings."""
    items = {}
    for project in Project.objects.prefetch_related("environments")[:MAX_PROJECTS]:
        envs = {e.name: e for e in project.environments.all()}
        for f in check_project(project):
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
