"""The django-q2 schedule writing a signed audit checkpoint every 15 minutes (docs/audit.md).

Schedules are created in code (here), never in the admin, which shows them read-only."""

from django.db import migrations

from opsportal.schedules import every_minutes

NAME = "audit: signed checkpoint of the chain head"


create, remove = every_minutes(NAME, "opsportal.audit.tasks.write_checkpoint", 15)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_redact_known_credentials"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
