"""The django-q2 schedule writing a signed audit checkpoint every 15 minutes (docs/audit.md).

Schedules are created in code (here), never in the admin, which shows them read-only."""

from django.db import migrations

NAME = "audit: signed checkpoint of the chain head"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={
            "func": "opsportal.audit.tasks.write_checkpoint",
            "schedule_type": "I",
            "minutes": 15,
            "repeats": -1,
        },
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_redact_known_credentials"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
