"""``products.csv``: the team's transcription of the product settings Sejoli keeps in WordPress
(``product_id, product, price, commission, access_days``; commission ``20%`` or ``Rp. 50.000``).

Imported first: orders take their commissions and access periods from these settings. Loaded
later, it recomputes the commissions that waited for a setting, inside the same job, so rolling
the job back restores them.
"""

from import_export.fields import Field

from .. import commissions
from .. import normalise as n
from ..choices import JobKind
from ..models import Product
from ..writer import apply_changes
from .base import Batch, LayoutResource
from .widgets import CommissionSettingWidget, IntegerWidget, RupiahWidget, TextWidget


class ProductSettingsResource(LayoutResource):
    kind = JobKind.PRODUCTS
    key_field = "name"
    writes = ()

    sejoli_id = Field(attribute="sejoli_id", column_name="product_id", widget=IntegerWidget())
    name = Field(attribute="name", column_name="product", widget=TextWidget())
    price = Field(attribute="price", column_name="price", widget=RupiahWidget(allow_negative=False))
    commission = Field(column_name="commission", widget=CommissionSettingWidget())
    access_days = Field(attribute="access_days", column_name="access_days", widget=IntegerWidget())

    @classmethod
    def check(cls, values: dict) -> None:
        if not values["name"]:
            raise n.Invalid("missing_product")
        if values["access_days"] is not None and values["access_days"] < 0:
            raise n.Invalid("bad_access_days")

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = cls.parse(b, rows)
        ids = {v["sejoli_id"] for _, v in parsed if v["sejoli_id"] is not None}
        names = {v["name"] for _, v in parsed}
        by_id = {p.sejoli_id: p for p in Product.objects.filter(sejoli_id__any_of=ids)}
        by_name = {p.name: p for p in Product.objects.filter(name__any_of=names)}
        pending = b.pending("products")  # a preview's earlier batches, by name
        by_name.update({n: pending[n] for n in names if n in pending})
        by_id.update({p.sejoli_id: p for p in pending.values() if p.sejoli_id in ids})
        settings_changed = set()
        for row, v in parsed:
            kind, value = v["commission"]
            wanted = {
                "name": v["name"],
                "sejoli_id": v["sejoli_id"],
                "price": v["price"],
                "commission_kind": kind,
                "commission_value": value,
                "access_days": v["access_days"] or None,
            }
            product = by_id.get(v["sejoli_id"]) if v["sejoli_id"] is not None else None
            product = product or by_name.get(v["name"])
            if product is None:
                product = Product(**wanted)
                b.w.create(Product, [product])
                by_name[product.name] = pending[product.name] = product
                if product.sejoli_id is not None:
                    by_id[product.sejoli_id] = product
                b.done("created", row, v["name"])
                continue
            other = by_name.get(v["name"])
            if other is not None and other.pk != product.pk:
                b.reject(row, v["name"], "product_name_taken")
                continue
            before = (product.commission_kind, product.commission_value)
            diff = apply_changes(product, wanted, b.w)
            if diff:
                b.w.update(Product, [product], diff)
                by_name[product.name] = product
                if before != (product.commission_kind, product.commission_value):
                    settings_changed.add(product.pk)
            b.done("updated" if diff else "unchanged", row, v["name"])
        if settings_changed and not b.dry_run:
            commissions.recompute(product_ids=settings_changed, writer=b.w)
