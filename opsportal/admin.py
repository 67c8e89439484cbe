from django.contrib import admin


class ReadOnlyAdmin(admin.ModelAdmin):
    """Domain data changes only through its services (which audit); the admin lets staff look."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
