"""Roles are Django groups with permissions.

viewer   reads everything
operator viewer + edits unprotected configuration, runs runbooks, starts imports
approver operator + approves change requests and second-signs steps on protected environments
admin    everything, including users and roles
"""

from django.contrib.auth.models import Group, Permission

VIEWER, OPERATOR, APPROVER, ADMIN = "viewer", "operator", "approver", "admin"
ROLES = (VIEWER, OPERATOR, APPROVER, ADMIN)
DOMAIN_APPS = ("audit", "environments", "runbooks", "imports")
WRITE_APPS = ("environments", "runbooks", "imports")

# Custom permissions that only approvers (and admins) hold. Every other custom permission of a
# domain app belongs to operators. Format: "app_label.codename".
APPROVER_ONLY = frozenset(
    {
        "environments.approve_changerequest",
        "runbooks.second_signoff",
        "imports.review_importitem",
    }
)


def _perm_key(perm: Permission) -> str:
    return f"{perm.content_type.app_label}.{perm.codename}"


def role_permissions(role: str) -> list[Permission]:
    perms = Permission.objects.select_related("content_type")
    if role == ADMIN:
        return list(perms)
    domain = [p for p in perms if p.content_type.app_label in DOMAIN_APPS]
    viewer = [p for p in domain if p.codename.startswith("view_")]
    if role == VIEWER:
        return viewer
    operator = viewer + [
        p
        for p in domain
        if p.content_type.app_label in WRITE_APPS
        and not p.codename.startswith("view_")
        and _perm_key(p) not in APPROVER_ONLY
    ]
    if role == OPERATOR:
        return operator
    if role == APPROVER:
        return operator + [p for p in domain if _perm_key(p) in APPROVER_ONLY]
    raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


def ensure_roles() -> None:
    """Create the role groups and give each its exact permission set (idempotent)."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))


def sync_after_migrate(sender, **kwargs) -> None:
    # post_migrate fires once per app, and each app's permissions are created by its own signal:
    # only after the last app are all permissions there to hand out.
    from django.apps import apps

    if sender.label == list(apps.get_app_configs())[-1].label:
        ensure_roles()


def role_of(user) -> str | None:
    """The highest role a user holds (superusers count as admin)."""
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in reversed(ROLES):
        if role in names:
            return role
    return None
