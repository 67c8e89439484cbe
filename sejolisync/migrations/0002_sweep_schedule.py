"""The minute's django-q2 schedule queueing deliveries no task picked up (``tasks.sweep``).

Schedules are created in code (here), never in the admin, which shows them read-only."""

from django.db import migrations

from opsportal.schedules import every_minutes

NAME = "sejolisync: queue Sejoli deliveries no task picked up"


create, remove = every_minutes(NAME, "sejolisync.tasks.sweep", 1)


class Migration(migrations.Migration):
    dependencies = [
        ("sejolisync", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
