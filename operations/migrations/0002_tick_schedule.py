"""The django-q2 schedule that starts recurring runs and records overdue ones every 5 minutes.

Schedules are created in code (here), never in the admin, which shows them read-only."""

from django.db import migrations

from opsportal.schedules import every_minutes

NAME = "operations: recurring runs (start due periods, record overdue)"


create, remove = every_minutes(NAME, "operations.tasks.schedules_tick", 5)


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
