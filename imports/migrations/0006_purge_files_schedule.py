"""The daily django-q2 schedule deleting stored import files past IMPORT_FILE_RETENTION_DAYS.

Schedules are created in code (here), never in the admin, which shows them read-only."""

from django.db import migrations

NAME = "imports: delete stored files past IMPORT_FILE_RETENTION_DAYS"


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.get_or_create(
        name=NAME,
        defaults={"func": "imports.tasks.purge_files", "schedule_type": "D", "repeats": -1},
    )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0005_masked_free_text"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
