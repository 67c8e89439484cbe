from django.db import migrations


def forwards(apps, schema_editor):
    """Values stored in the clear before the classifier knew them: fingerprints now, the audit
    fields that quoted them redacted, and typed text of earlier versions masked (each audited)."""
    from environments.repair import reclassify_stored_values
    from opsportal.repair import mask_existing_free_text

    reclassify_stored_values(apps)
    mask_existing_free_text(apps, "environments")


class Migration(migrations.Migration):
    dependencies = [
        ("environments", "0006_value_kind_opsportal_token"),
        ("audit", "0006_upgrade_chain_and_redaction_trigger"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
