"""Roles are Django groups with permissions.

viewer   reads everything
operator viewer + edits unprotected configuration, runs runbooks, starts imports
approver operator + approves change requests, second-signs steps on protected environments and
         sets the origins runbook checks may reach (a runbook's settings)
admin    everything, including users and roles
"""

from django.contrib.auth.models import Group, Permission

VIEWER, OPERATOR, APPROVER, ADMIN = "viewer", "operator", "approver", "admin"
ROLES = (VIEWER, OPERATOR, APPROVER, ADMIN)
DOMAIN_APPS = (
    "audit",
    "environments",
    "runbooks",
    "imports",
    "mailings",
    "deployments",
    "sejolisync",
    "operations",
)
WRITE_APPS = (
    "environments",
    "runbooks",
    "imports",
    "mailings",
    "deployments",
    "sejolisync",
    "operations",
)

# Permissions that only approvers (and admins) hold. Every other custom permission of a
# domain app belongs to operators. Format: "app_label.codename".
APPROVER_ONLY = frozenset(
    {
        "environments.approve_changerequest",
        "runbooks.second_signoff",
        # whose name a recurring run's runs are started under
        "operations.assign_owner",
        # a runbook's settings: the origins its automated checks may reach
        "runbooks.change_runbook",
        "imports.review_importitem",
    }
)


def _perm_key(perm: Permission) -> str:
    return f"{perm.content_type.app_label}.{perm.codename}"


def role_permissions(role: str) -> list[Permission]:
    """The permissions the code gives ``role`` (the one definition of every role)."""
    return _role_permissions_from(list(Permission.objects.select_related("content_type")), role)


def ensure_roles() -> None:
    """Create the role groups and give each its exact permission set (idempotent)."""
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(role_permissions(role))


def role_drift() -> dict[str, dict[str, list[str]]]:
    """Where the database's role groups differ from the permissions defined here.

    ``{role: {"missing": [...], "extra": [...]}}`` for each role whose group lacks a permission
    the code gives it, holds one the code does not, or does not exist (every permission then
    missing). Empty when the database matches the code. A permission added by hand in the
    admin or the database shows up here (``portal_status``, ``/healthz``)."""
    perms = list(Permission.objects.select_related("content_type"))
    by_pk = {p.pk: _perm_key(p) for p in perms}
    held: dict[str, set[str]] = {}
    for name, pk in Group.objects.filter(name__in=ROLES).values_list("name", "permissions"):
        held.setdefault(name, set())
        if pk is not None:
            held[name].add(by_pk[pk])
    drift = {}
    for role in ROLES:
        wanted = {_perm_key(p) for p in _role_permissions_from(perms, role)}
        have = held.get(role, set())
        missing, extra = sorted(wanted - have), sorted(have - wanted)
        if role not in held or missing or extra:
            drift[role] = {"missing": missing, "extra": extra}
    return drift


def _role_permissions_from(perms: list[Permission], role: str) -> list[Permission]:
    if role == ADMIN:
        return perms
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
