"""Read-only admin: every write goes through the services (and protected environments through
change requests), so the admin only lets staff look."""

from django.contrib import admin

from opsportal.admin import ReadOnlyAdmin

from .models import ChangeRequest, ConfigVar, Environment, Project, ProviderDeployment


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")


@admin.register(Environment)
class EnvironmentAdmin(ReadOnlyAdmin):
    list_display = ("project", "name", "tier", "protected")
    list_filter = ("tier", "protected")


@admin.register(ProviderDeployment)
class ProviderDeploymentAdmin(ReadOnlyAdmin):
    list_display = ("environment", "provider", "identifier", "url")


@admin.register(ConfigVar)
class ConfigVarAdmin(ReadOnlyAdmin):
    list_display = ("key", "environment", "is_secret", "required", "value_kind", "hint")
    list_filter = ("is_secret", "required", "environment__tier")
    search_fields = ("key",)
    # A secret's value is never stored; the clear value of public variables is fine to show.
    exclude = ("fingerprint",)


@admin.register(ChangeRequest)
class ChangeRequestAdmin(ReadOnlyAdmin):
    list_display = ("pk", "environment", "kind", "status", "author", "decided_by", "created_at")
    list_filter = ("status", "kind")
    exclude = ("payload",)
