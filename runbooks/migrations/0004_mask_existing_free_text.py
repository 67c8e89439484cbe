from django.db import migrations


def forwards(apps, schema_editor):
    """Typed text stored before its column masked credentials: masked now, an audit event per
    row (naming the fields, never the text)."""
    from opsportal.repair import mask_existing_free_text

    mask_existing_free_text(apps, "runbooks")


class Migration(migrations.Migration):
    dependencies = [
        ("runbooks", "0003_plan_structure_and_second_signoff"),
        ("audit", "0006_upgrade_chain_and_redaction_trigger"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
