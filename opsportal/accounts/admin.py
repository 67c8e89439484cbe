"""Users, roles and login lockouts in the admin: every write goes through an audited service,
and what has no service (a role's permissions, a user's own permissions) is read-only.

- a user's fields, roles (groups), password and deletion: ``services.user_admin_save``,
  ``user_password_set``, ``user_admin_delete``;
- roles' permissions are defined in code (``roles.py``): the group admin only shows them, and
  ``manage.py sync_roles`` (audited) repairs a drift that ``portal_status`` reports;
- a lockout (django-axes ``AccessAttempt``) is cleared through ``services.login_unlock``
  (the admin's delete and its "Unlock" action, or ``manage.py unlock_login USERNAME``).
"""

from contextvars import ContextVar

import axes.admin  # noqa: F401  (registers axes' admin first, replaced below)
from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group
from django.db import transaction

from .services import login_unlock, user_admin_delete, user_admin_save, user_password_set

User = get_user_model()

# The admin user changing a password: the admin builds the form with (user, data) only.
_admin_actor: ContextVar = ContextVar("admin_actor", default=None)


class AuditedAdminPasswordChangeForm(AdminPasswordChangeForm):
    """Saves through ``user_password_set`` (audited) instead of ``user.save()``."""

    def save(self, commit=True):
        password = (
            self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        )
        user_password_set(actor=_admin_actor.get(), user=self.user, password=password)
        return self.user


class PortalUserAdmin(UserAdmin):
    """Django's user admin, writing through the accounts services so every edit is audited."""

    actions = None  # bulk deletes would bypass the service
    change_password_form = AuditedAdminPasswordChangeForm
    # Permissions come with a role (a group); per-user permissions are not handed out here.
    filter_horizontal = ("groups",)

    def get_readonly_fields(self, request, obj=None):
        return (*super().get_readonly_fields(request, obj), "user_permissions")

    def save_model(self, request, obj, form, change):
        user_admin_save(
            actor=request.user, user=obj, changed_fields=form.changed_data, created=not change
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "groups" in form.changed_data:
            user_admin_save(
                actor=request.user,
                user=form.instance,
                changed_fields=["groups"],
                created=not change,
                groups=form.instance.groups.all(),
            )

    def delete_model(self, request, obj):
        user_admin_delete(actor=request.user, user=obj)

    def user_change_password(self, request, id, form_url=""):
        token = _admin_actor.set(request.user)
        try:
            with transaction.atomic():
                return super().user_change_password(request, id, form_url)
        finally:
            _admin_actor.reset(token)


class RoleAdmin(GroupAdmin):
    """Roles are defined in code (``roles.py``): shown here, never edited."""

    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LockoutAdmin(AccessAttemptAdmin):
    """Login lockouts: deleting one unlocks it, through the audited ``login_unlock``."""

    actions = ["unlock_selected"]

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(description="Unlock the selected logins", permissions=["delete"])
    def unlock_selected(self, request, queryset):
        count = login_unlock(actor=request.user, attempts=queryset, reason="unlocked in the admin")
        self.message_user(request, f"Cleared {count} lockout record(s).", messages.SUCCESS)

    def delete_model(self, request, obj):
        login_unlock(actor=request.user, attempts=[obj], reason="unlocked in the admin")

    def delete_queryset(self, request, queryset):
        login_unlock(actor=request.user, attempts=queryset, reason="unlocked in the admin")


class ReadOnlyAccessLogMixin:
    """The login history is evidence: readable, never edited or deleted from the admin."""

    actions = None

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AccessLogReadOnlyAdmin(ReadOnlyAccessLogMixin, AccessLogAdmin):
    pass


class AccessFailureLogReadOnlyAdmin(ReadOnlyAccessLogMixin, AccessFailureLogAdmin):
    pass


def _replace(model, admin_class) -> None:
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, admin_class)


_replace(User, PortalUserAdmin)
_replace(Group, RoleAdmin)
_replace(AccessAttempt, LockoutAdmin)
_replace(AccessLog, AccessLogReadOnlyAdmin)
_replace(AccessFailureLog, AccessFailureLogReadOnlyAdmin)
