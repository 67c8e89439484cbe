"""django-q2 schedules the portal needs, created by each app's data migration.

Schedules live in code, never in the admin (which shows them read-only: a schedule names a
function the worker runs). A migration says what runs how often::

    create, remove = every_minutes("audit: signed checkpoint", "opsportal.audit.tasks.x", 15)
    operations = [migrations.RunPython(create, remove)]

``create`` is idempotent (tests re-run it after a flush emptied the table).
"""

from collections.abc import Callable

Operation = Callable[[object, object], None]


def every_minutes(name: str, func: str, minutes: int) -> tuple[Operation, Operation]:
    """(create, remove) for a schedule running ``func`` every ``minutes``, forever."""

    def create(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.get_or_create(
            name=name,
            defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1},
        )

    def remove(apps, schema_editor):
        apps.get_model("django_q", "Schedule").objects.filter(name=name).delete()

    return create, remove
