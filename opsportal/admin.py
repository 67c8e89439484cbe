"""Admin base classes, and django-q2's admin made read-only.

django-q2's own admin lets staff add a Schedule naming any importable function (e.g.
``subprocess.getoutput``) that the worker then runs, and resubmit or edit queued tasks. Here its
tables are read-only: schedules are created in code, tasks by services. django-q2's admin module
is imported first, so it has registered its classes before they are replaced.
"""

import django_q.admin as q_admin
from django.contrib import admin
from django_q.models import Failure, OrmQ, Schedule, Success


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


# --- django-q2: look, never schedule -------------------------------------------------------------


class ReadOnlyQueueMixin:
    actions = None

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScheduleReadOnlyAdmin(ReadOnlyQueueMixin, q_admin.ScheduleAdmin):
    pass


class SuccessReadOnlyAdmin(ReadOnlyQueueMixin, q_admin.TaskAdmin):
    pass


class FailureReadOnlyAdmin(ReadOnlyQueueMixin, q_admin.FailAdmin):
    pass


class QueueReadOnlyAdmin(ReadOnlyQueueMixin, q_admin.QueueAdmin):
    pass


for _model, _admin_class in (
    (Schedule, ScheduleReadOnlyAdmin),
    (Success, SuccessReadOnlyAdmin),
    (Failure, FailureReadOnlyAdmin),
    (OrmQ, QueueReadOnlyAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
        admin.site.register(_model, _admin_class)
