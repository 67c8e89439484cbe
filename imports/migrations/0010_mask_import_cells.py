from django.db import migrations

import opsportal.fields

CELLS = frozenset({"member.group", "order.payment", "order.courier"})


def forwards(apps, schema_editor):
    """Cells of earlier imports that held a credential: masked as the columns now mask (each
    row audited as data.free_text.masked)."""
    from opsportal.repair import mask_existing_free_text

    mask_existing_free_text(apps, "imports", only=CELLS)


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0009_sample_verification_drawing"),
        ("audit", "0012_target_repr_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="member",
            name="group",
            field=opsportal.fields.MaskedCharField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name="order",
            name="courier",
            field=opsportal.fields.MaskedCharField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name="order",
            name="payment",
            field=opsportal.fields.MaskedCharField(blank=True, max_length=100),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
