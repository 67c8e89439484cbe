"""django-import-export resources: the column layouts of the admin import/export.

Large files go through import jobs (``engine.py``); these serve the admin's export and small
hand-made imports, and the benchmark's "plain resource" baseline.
"""

from import_export import fields, resources
from import_export.widgets import ForeignKeyWidget

from .models import Member, Order, Product


class MemberResource(resources.ModelResource):
    class Meta:
        model = Member
        import_id_fields = ("email",)
        fields = ("email", "phone", "name", "address", "group", "referrer_name")
        export_order = fields
        skip_unchanged = True
        report_skipped = True


class OrderResource(resources.ModelResource):
    member = fields.Field(
        attribute="member", column_name="email", widget=ForeignKeyWidget(Member, "email")
    )
    product = fields.Field(
        attribute="product", column_name="product", widget=ForeignKeyWidget(Product, "name")
    )

    class Meta:
        model = Order
        import_id_fields = ("inv",)
        fields = ("inv", "member", "product", "quantity", "total", "status", "payment",
                  "created_at")  # fmt: skip
        export_order = fields
