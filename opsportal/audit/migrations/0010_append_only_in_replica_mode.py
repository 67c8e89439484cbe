from django.db import migrations

ALWAYS = "ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_append_only;"
ORIGIN = "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ALWAYS)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ORIGIN)


class Migration(migrations.Migration):
    """The row trigger fires also under ``session_replication_role = replica``, which otherwise
    switches ordinary triggers off (what a database owner would use to edit rows quietly)."""

    dependencies = [("audit", "0009_refuse_truncate")]

    operations = [migrations.RunPython(forwards, backwards)]
