"""Every write to tokens and service accounts, each with its audit event.

Who may do what: anyone signed in manages their own personal tokens; service accounts and their
tokens (and anyone else's tokens) need ``api.manage_service_tokens`` (admins). ``actor=None`` is
the command line (``manage.py api_token``), run by someone with shell access to the server.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from opsportal.accounts.permissions import require
from opsportal.accounts.roles import ROLES
from opsportal.audit.services import record

from . import scopes as scope_defs
from .models import ApiToken, ServiceAccount, TokenKind
from .tokens import hash_secret, new_secret, parse, secret_matches, token_string

MANAGE_PERMISSION = "api.manage_service_tokens"
DEFAULT_EXPIRES_DAYS = 90
MAX_EXPIRES_DAYS = 730
TOUCH_INTERVAL = timedelta(seconds=60)


def _may_manage_for(actor, owner) -> None:
    if actor is None:
        return
    if owner.pk == actor.pk and not is_service_account(owner):
        if not actor.is_active:
            raise PermissionDenied(f"{actor.get_username()} is not active.")
        return
    require(actor, MANAGE_PERMISSION, action="manage service accounts and other people's tokens")


def is_service_account(user) -> bool:
    return ServiceAccount.objects.filter(user_id=user.pk).exists()


def service_account_create(*, actor, username: str, role: str, description: str = ""):
    """A user for a pipeline: no usable password, one role, tokens managed by admins."""
    if actor is not None:
        require(actor, MANAGE_PERMISSION, action="create service accounts")
    username = (username or "").strip()
    errors = {}
    User = get_user_model()
    if not username:
        errors["username"] = "A name is required (e.g. ci-deploy)."
    elif User.objects.filter(username__iexact=username).exists():
        errors["username"] = f"A user named {username!r} already exists."
    if role not in ROLES:
        errors["role"] = f"Unknown role {role!r}; choose one of: {', '.join(ROLES)}."
    elif role == "admin":
        errors["role"] = "A service account cannot be an admin: give it the role its job needs."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        user = User(username=username, is_staff=False, is_superuser=False)
        user.set_unusable_password()
        user.save()
        user.groups.set([Group.objects.get_or_create(name=role)[0]])
        account = ServiceAccount.objects.create(
            user=user, description=description, created_by=actor
        )
        record(
            actor=actor,
            action="api.service_account.created",
            target=account,
            target_repr=f"service account {username}",
            changes={"username": username, "role": role, "description": account.description},
        )
    return account


def token_create(
    *,
    actor,
    user,
    name: str,
    scopes,
    expires_days: int | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the token string (shown once, never
    stored). A service account's token is a service token."""
    _may_manage_for(actor, user)
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Name the token after what uses it (e.g. GitHub Actions deploy)."
    try:
        clean_scopes = scope_defs.normalise(scopes or [])
        if not clean_scopes:
            errors["scopes"] = "Choose at least one scope."
    except ValueError as exc:
        errors["scopes"] = str(exc)
        clean_scopes = []
    days = DEFAULT_EXPIRES_DAYS if expires_days is None else expires_days
    if not isinstance(days, int) or not 1 <= days <= MAX_EXPIRES_DAYS:
        errors["expires_days"] = f"A token expires after 1 to {MAX_EXPIRES_DAYS} days."
    if not user.is_active:
        errors["user"] = f"{user.get_username()} is not active."
    if errors:
        raise ValidationError(errors)
    kind = TokenKind.SERVICE if is_service_account(user) else TokenKind.PERSONAL
    secret = new_secret()
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            kind=kind,
            name=name,
            scopes=clean_scopes,
            secret_hash=hash_secret(secret),
            created_at=now,
            created_by=actor,
            expires_at=now + timedelta(days=days),
        )
        record(
            actor=actor,
            action="api.token.created",
            target=token,
            target_repr=token.label,
            changes={
                "owner": user.get_username(),
                "kind": kind,
                "name": token.name,
                "scopes": clean_scopes,
                "expires_at": token.expires_at,
            },
        )
    return token, token_string(token.pk, secret)


def token_revoke(*, actor, token: ApiToken, reason: str = "") -> ApiToken:
    _may_manage_for(actor, token.user)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise ValidationError(f"{token.label} is already revoked.")
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        record(
            actor=actor,
            action="api.token.revoked",
            target=token,
            target_repr=token.label,
            changes={"owner": token.user.get_username(), "kind": token.kind},
            message=reason,
        )
    return token


def token_authenticate(raw: str, *, now=None) -> ApiToken | None:
    """The usable token a bearer string names, else None (malformed, unknown, wrong secret,
    revoked, expired or its owner deactivated: the caller cannot tell which, on purpose)."""
    parsed = parse(raw)
    if parsed is None:
        return None
    token_id, secret = parsed
    token = ApiToken.objects.select_related("user").filter(pk=token_id).first()
    if token is None or not secret_matches(secret, token.secret_hash):
        return None
    now = now or timezone.now()
    if not token.is_usable(now) or not token.user.is_active:
        return None
    token_touch(token, now=now)
    return token


def token_touch(token: ApiToken, *, now=None) -> None:
    """Note when a token was last used: at most one write a minute per token, not one per
    request (a conditional UPDATE, so concurrent requests write it once). Not audited: the use
    itself is in the audit trail when it matters (a write scope)."""
    now = now or timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_INTERVAL:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOUCH_INTERVAL)
    ).update(last_used_at=now)
    token.last_used_at = now


def token_use_record(*, token: ApiToken, scope: str, method: str, path: str, status: int) -> None:
    """The audit event of a write-scope request that recorded no event of its own (a dry run,
    a refused write): the token's owner is the actor, the row says which token."""
    with transaction.atomic():
        record(
            actor=token.user,
            action="api.token.used",
            target=token,
            target_repr=token.label,
            changes={"scope": scope, "method": method, "path": path[:200], "status": status},
        )
