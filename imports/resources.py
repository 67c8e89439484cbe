"""django-import-export model resources for the admin's Export of members and orders.

The file layouts (what a Sejoli export or spreadsheet holds) are declared in
``imports/layouts/``; the admin's Import uses those, through import jobs.
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
