"""Product settings become data (commission percent or fixed per unit, access days); orders keep
their own delivery details; a commission's amount may be unknown; review items can name a
product."""

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


def rates_to_settings(apps, schema_editor):
    """The old single rate (a fraction) becomes a percent setting, audited when any existed."""
    Product = apps.get_model("imports", "Product")
    converted = []
    for product in Product.objects.filter(commission_rate__isnull=False):
        product.commission_kind = "percent"
        product.commission_value = (product.commission_rate * 100).quantize(Decimal("0.01"))
        product.save(update_fields=["commission_kind", "commission_value"])
        converted.append({"product": product.name, "percent": str(product.commission_value)})
    if converted:
        from opsportal.audit.services import record

        record(
            actor=None,
            action="import.product.settings_migrated",
            target_type="imports.product",
            target_repr=f"{len(converted)} products",
            changes={"products": converted},
            message="Commission rates moved from code to product settings.",
        )


class Migration(migrations.Migration):
    dependencies = [
        ("imports", "0002_member_search_trigram"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="product",
            name="commission_kind",
            field=models.CharField(
                blank=True,
                choices=[("percent", "Percent of the order total"), ("fixed", "Fixed Rupiah per unit")],
                default="",
                max_length=8,
            ),
        ),
        migrations.AddField(
            model_name="product",
            name="commission_value",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.RunPython(rates_to_settings, migrations.RunPython.noop),
        migrations.RemoveField(model_name="product", name="commission_rate"),
        migrations.RenameField(
            model_name="product", old_name="subscription_days", new_name="access_days"
        ),
        migrations.AlterModelOptions(name="product", options={"ordering": ["name"]}),
        migrations.AddField(
            model_name="order", name="shipping_address", field=models.TextField(blank=True)
        ),
        migrations.AddField(
            model_name="order", name="courier", field=models.CharField(blank=True, max_length=100)
        ),
        migrations.AddField(
            model_name="order", name="variant", field=models.CharField(blank=True, max_length=255)
        ),
        migrations.AlterField(
            model_name="commission",
            name="amount",
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name="reviewitem",
            name="product",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="imports.product",
            ),
        ),
        migrations.AlterField(
            model_name="columnpreset",
            name="kind",
            field=models.CharField(choices=[("products", "Product settings"), ("users", "Sejoli users"), ("orders", "Sejoli orders"), ("commissions", "Sejoli commissions"), ("subscriptions", "Sejoli subscriptions"), ("sheet-orders", "Spreadsheet orders"), ("sheet-memberships", "Spreadsheet memberships"), ("sheet-affiliates", "Spreadsheet affiliates")], max_length=32),
        ),
        migrations.AlterField(
            model_name="importjob",
            name="kind",
            field=models.CharField(choices=[("products", "Product settings"), ("users", "Sejoli users"), ("orders", "Sejoli orders"), ("commissions", "Sejoli commissions"), ("subscriptions", "Sejoli subscriptions"), ("sheet-orders", "Spreadsheet orders"), ("sheet-memberships", "Spreadsheet memberships"), ("sheet-affiliates", "Spreadsheet affiliates")], max_length=32),
        ),
        migrations.AlterField(
            model_name="reviewitem",
            name="kind",
            field=models.CharField(choices=[("affiliate_mapping", "Affiliate mapping to verify"), ("duplicate_member", "Possible duplicate members"), ("commission_mismatch", "Commission mismatch"), ("commission_setting", "Product needs a commission setting")], max_length=32),
        ),
    ]
