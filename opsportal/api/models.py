"""API tokens and the service accounts that own CI's tokens.

A token is stored as ``sha256(secret)`` only (see ``tokens.py`` for the format and why not a slow
hash); the string is shown once, when it is created. Rows are written by ``services.py`` only.
"""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from opsportal.fields import MaskedCharField

from .tokens import PREFIX


class TokenKind(models.TextChoices):
    PERSONAL = "personal", "Personal"
    SERVICE = "service", "Service"


class ServiceAccount(models.Model):
    """A user that is not a person: CI, a deploy hook. It has no usable password (it cannot log
    in), one role like anyone else, and its tokens are managed by admins.

    Why a user of its own rather than tokens owned by the admin who made them: the audit trail
    then says *the pipeline* changed production ("ci-deploy via token 7"), not a person who was
    not there; the pipeline holds only its role's permissions, not an admin's; and an admin who
    leaves (deactivated) takes no deploy pipeline down with them."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="service_account"
    )
    description = MaskedCharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user__username"]

    def __str__(self) -> str:
        return self.user.get_username()


class ApiTokenQuerySet(models.QuerySet):
    def active(self, now=None) -> "ApiTokenQuerySet":
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    kind = models.CharField(max_length=10, choices=TokenKind.choices, default=TokenKind.PERSONAL)
    name = MaskedCharField(max_length=100)
    scopes = models.JSONField(default=list)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    # Written at most once a minute (services.token_touch), not on every request.
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_service_tokens", "Can manage service accounts and their tokens")]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_created")]

    def __str__(self) -> str:
        return self.label

    def get_absolute_url(self) -> str:
        return reverse("api_tokens:mine")

    @property
    def label(self) -> str:
        """How the audit trail names the token: ``token 12 (ci deploy)``."""
        return f"token {self.pk} ({self.name})"

    @property
    def prefix(self) -> str:
        """The public part of the token string: what a person sees to recognise it."""
        return f"{PREFIX}_{self.pk}_…"

    def status(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"

    def is_usable(self, now=None) -> bool:
        return self.status(now) == "active"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
