from django.db import migrations


def forwards(apps, schema_editor):
    """Fields of earlier events that quote a credential the masking of their time missed are
    redacted (an audit.event.redacted event each); the chain still verifies."""
    from opsportal.audit.repair import redact_known_credentials

    redact_known_credentials()


class Migration(migrations.Migration):
    dependencies = [("audit", "0006_upgrade_chain_and_redaction_trigger")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
