"""Writes to users and roles, and the audit of authentication events."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from opsportal.audit.masking import masked
from opsportal.audit.services import record

from .permissions import require
from .roles import ROLES, ensure_roles, role_drift


def operator_create(
    *,
    actor,
    username: str,
    role: str,
    password: str,
    email: str = "",
    validate: bool = True,
):
    """Create a login with exactly one role. ``actor`` None means the command line (a superuser)."""
    if actor is not None:
        require(actor, "auth.add_user", action="create operators")
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}.")
    User = get_user_model()
    username = username.strip()
    if not username:
        raise ValidationError("A username is required.")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"A user named {username!r} already exists.")
    if validate:
        validate_password(password, user=User(username=username, email=email))
    with transaction.atomic():
        user = User(username=username, email=email, is_staff=(role == "admin"))
        user.is_superuser = role == "admin"
        user.set_password(password)
        user.save()
        user.groups.set([Group.objects.get_or_create(name=role)[0]])
        record(
            actor=actor,
            action="auth.user.created",
            target=user,
            changes={"username": username, "email": email, "role": role},
        )
    return user


# Fields of a user whose values never enter an audit row.
_USER_AUDIT_EXCLUDED = {"password", "last_login"}


def user_admin_save(*, actor, user, changed_fields: list[str], created: bool, groups=None) -> None:
    """Save a user edited in the Django admin, with its audit event (roles included).

    The admin's change form runs in one transaction; this is called for the user row and again
    after its many-to-many fields (``groups``) were saved, so both land in the audit trail.
    """
    require(actor, "auth.add_user" if created else "auth.change_user", action="edit users")
    with transaction.atomic():
        if groups is None:
            user.save()
            fields = [f for f in changed_fields if f not in _USER_AUDIT_EXCLUDED]
            changes = {f: str(getattr(user, f, "")) for f in fields if f != "groups"}
            if "password" in changed_fields:
                changes["password"] = "changed"  # noqa: S105 (a marker, not a value)
            action = "auth.user.created" if created else "auth.user.updated"
        else:
            changes = {"roles": sorted(g.name for g in groups)}
            action = "auth.user.roles_changed"
        if changes:
            record(actor=actor, action=action, target=user, changes=changes)


def user_admin_delete(*, actor, user) -> None:
    """Delete a login from the admin; its audit history stays (the label is kept)."""
    require(actor, "auth.delete_user", action="delete users")
    with transaction.atomic():
        record(actor=actor, action="auth.user.deleted", target=user)
        user.delete()


def user_password_set(*, actor, user, password: str | None) -> None:
    """Set (or, with ``password=None``, disable) another login's password from the admin.

    The password was validated by the admin's form; only the fact of the change is audited."""
    require(actor, "auth.change_user", action="change passwords")
    with transaction.atomic():
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(update_fields=["password"])
        record(
            actor=actor,
            action="auth.user.password_set",
            target=user,
            # the key must not look like a credential, or the audit masks the word itself
            changes={"sign_in": "password disabled" if password is None else "password changed"},
        )


def roles_sync(*, actor) -> dict[str, dict[str, list[str]]]:
    """Give every role group exactly the permissions ``roles.py`` defines; audited when that
    changed anything. Returns the drift that was repaired (empty: nothing to do).
    ``actor`` None is the command line."""
    if actor is not None:
        require(actor, "auth.change_group", action="change roles")
    with transaction.atomic():
        drift = role_drift()
        if drift:
            ensure_roles()
            record(
                actor=actor,
                action="auth.roles.synced",
                target_type="auth.group",
                target_repr=", ".join(sorted(drift)),
                changes=drift,
            )
    return drift


def login_unlock(*, actor, username: str = "", attempts=None, reason: str = "") -> int:
    """Clear django-axes lockouts: those of ``username`` (every address), or the given
    ``AccessAttempt`` rows (the admin's delete). Returns how many were cleared; audited per
    login name. ``actor`` None is the command line (``manage.py unlock_login``)."""
    from axes.models import AccessAttempt

    if actor is not None:
        require(actor, "axes.delete_accessattempt", action="unlock logins")
    if attempts is None:
        if not username.strip():
            raise ValidationError("Name the login to unlock.")
        attempts = AccessAttempt.objects.filter(username=username.strip())
    with transaction.atomic():
        rows = list(attempts)
        by_name: dict[str, list[str]] = {}
        for row in rows:
            by_name.setdefault(row.username or "", []).append(row.ip_address or "")
        AccessAttempt.objects.filter(pk__in=[r.pk for r in rows]).delete()
        for name, addresses in sorted(by_name.items()):
            record(
                actor=actor,
                action="auth.lockout.cleared",
                target_type="auth.user",
                target_repr=name[:150],
                changes={"attempts": len(addresses), "ip_addresses": sorted(set(addresses))},
                message=reason,
            )
    return len(rows)


def operator_password_change(*, actor, new_password: str) -> None:
    """Change the actor's own password (already validated by the form)."""
    with transaction.atomic():
        actor.set_password(new_password)
        actor.save(update_fields=["password"])
        record(actor=actor, action="auth.password.changed", target=actor)


def login_name(typed) -> str:
    """What may be kept of a name typed into the login form.

    An existing username is kept as typed. Anything else is kept only as a fingerprint: people
    type their password into the username box, and a failed login must not put it in the
    audit trail, the lockout table or the log. Lockouts still count per typed value.
    """
    typed = str(typed or "").strip()
    if not typed:
        return ""
    if (
        get_user_model()
        ._default_manager.filter(**{get_user_model().USERNAME_FIELD: typed})
        .exists()
    ):
        return typed[:150]
    return f"unknown ({masked(typed)})"


def axes_username(request, credentials=None) -> str:
    """``AXES_USERNAME_CALLABLE``: django-axes records the name through :func:`login_name`."""
    field = "username"
    if credentials:
        typed = credentials.get(field)
    else:
        typed = request.POST.get(field) if request is not None else None
    return login_name(typed)


def auth_event_record(*, actor, action: str, username: str = "", message: str = "") -> None:
    """Audit a login, logout, failure or lockout."""
    with transaction.atomic():
        record(
            actor=actor,
            action=action,
            target_type="auth.user",
            target_id=actor.pk if actor is not None else "",
            target_repr=username[:150],
            message=message,
        )


def user_role_revoke(*, actor, user, reason: str = "") -> None:
    """Take a login's access away at once: no role, no admin flags, deactivated, its sessions
    ended. The next request of any of its sessions is anonymous (an inactive user is not
    authenticated), and its API tokens stop working (their owner is inactive). Audited."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    require(actor, "auth.change_user", action="revoke access")
    if actor is not None and actor.pk == user.pk:
        raise ValidationError("You cannot revoke your own access: another admin must.")
    with transaction.atomic():
        before = {
            "roles": sorted(user.groups.values_list("name", flat=True)),
            "is_active": user.is_active,
            "is_staff": user.is_staff,
            "is_superuser": user.is_superuser,
        }
        user.groups.clear()
        user.is_active = user.is_staff = user.is_superuser = False
        user.save(update_fields=["is_active", "is_staff", "is_superuser"])
        ended = 0
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
            if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
                session.delete()
                ended += 1
        record(
            actor=actor,
            action="auth.user.access_revoked",
            target=user,
            changes={"before": before, "sessions_ended": ended},
            message=reason,
        )


def account_settings_update(*, actor, user, time_zone: str, session=None):
    """Set the time zone ``user``'s pages show times in ("" = the portal's ``TIME_ZONE``).

    People change their own; changing someone else's needs ``auth.change_user``. Audited as
    ``auth.settings.changed`` with the zone before and after. ``session``, when given (the
    request's), is updated so the next page already uses the new zone; the user's other open
    sessions (and theirs, when an admin changes it) take it at their next sign-in.
    """
    from .models import AccountSettings
    from .zones import SESSION_KEY, zone_names

    if actor is None or not actor.is_active:
        raise PermissionDenied("Sign in to change your settings.")
    if actor.pk != user.pk:
        require(actor, "auth.change_user", action="change other people's settings")
    time_zone = (time_zone or "").strip()
    if time_zone and time_zone not in zone_names():
        raise ValidationError({"time_zone": f"Unknown time zone: {time_zone[:64]}."})
    with transaction.atomic():
        current, _ = AccountSettings.objects.select_for_update().get_or_create(user=user)
        before = current.time_zone
        if before != time_zone:
            current.time_zone = time_zone
            current.save(update_fields=["time_zone", "updated_at"])
            record(
                actor=actor,
                action="auth.settings.changed",
                target=user,
                target_repr=f"settings of {user.get_username()}",
                changes={"time_zone": [before or "portal default", time_zone or "portal default"]},
            )
    if session is not None:
        session[SESSION_KEY] = time_zone
    return current
