from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .services import user_admin_delete, user_admin_save

User = get_user_model()


class PortalUserAdmin(UserAdmin):
    """Django's user admin, writing through the accounts services so every edit is audited."""

    actions = None  # bulk deletes would bypass the service

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


admin.site.unregister(User)
admin.site.register(User, PortalUserAdmin)
