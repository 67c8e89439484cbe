"""Sejoli's commission rules, applied from the product settings the team owns.

A completed order earns its affiliate an ``added`` commission, a refunded or cancelled one a
``cancelled`` commission, every other status a ``pending`` one; never on one's own purchase. The
amount comes from the product's setting (percent of the order total or fixed Rupiah per unit);
while a product has no setting the amount is unknown (``None``), never a silent 0, and the
product gets one review item until someone enters the setting.
"""

from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from .choices import CommissionStatus, ReviewKind, ReviewStatus
from .models import Commission, ImportRowChange, Order, Product, ReviewItem
from .writer import Writer, digest, snapshot, update_rows

STATUS_OF_ORDER = {
    "completed": CommissionStatus.ADDED,
    "refunded": CommissionStatus.CANCELLED,
    "cancelled": CommissionStatus.CANCELLED,
}


def status_for(order_status: str) -> str:
    return STATUS_OF_ORDER.get(order_status, CommissionStatus.PENDING)


def setting_review_key(product_id: int) -> str:
    return f"product:{product_id}:commission_setting"


def setting_summary(product: Product, waiting: int) -> str:
    return f"{waiting} orders of «{product.name}» need a commission setting"


def waiting_for_setting() -> dict[int, int]:
    """Product id → number of commissions whose amount waits for the product's setting."""
    return dict(
        Commission.objects.filter(amount__isnull=True)
        .values("order__product")
        .annotate(n=Count("pk"))
        .values_list("order__product", "n")
    )


def recompute(*, product_ids, writer: Writer | None = None, actor=None) -> list[tuple[int, str]]:
    """Bring the orders of these products in line with the products' settings: every commission
    amount, and the access period of completed orders; settle the products' "needs a commission
    setting" review items once a setting exists.

    Inside an import job (``writer``) the changes join the job's change log, so rolling the job
    back restores the old values. Outside one (an operator's edit) the change-log entries of
    the import that last wrote each row are brought up to date, so that import's rollback still
    recognises the rows as its own. Returns ``(commission id, old amount)`` of the changed
    commissions. Runs inside the caller's transaction."""
    products = {p.pk: p for p in Product.objects.filter(pk__in=list(product_ids))}
    changed, before = [], []
    commissions = Commission.objects.filter(order__product__in=list(products)).select_related(
        "order"
    )
    for commission in commissions:
        order = commission.order
        amount = products[order.product_id].commission_for(order.total, order.quantity)
        if commission.amount != amount:
            if writer is not None:
                writer.will_update(commission)
            old = None if commission.amount is None else str(commission.amount)
            before.append((commission.pk, old))
            commission.amount = amount
            changed.append(commission)
    extra = ["job"] if writer is not None else []
    update_rows(Commission, changed, ["amount", *extra])
    orders = _recompute_access(products, writer)
    update_rows(Order, orders, ["access_expires_at", *extra])
    with_setting = [p for p in products.values() if p.has_commission_setting]
    settled = _settle_reviews(with_setting, writer, actor)
    if writer is None:
        refresh_change_log([*changed, *orders, *settled])
    return before


def _recompute_access(products: dict[int, Product], writer: Writer | None) -> list[Order]:
    changed = []
    for order in Order.objects.filter(product__in=list(products), status="completed"):
        days = products[order.product_id].access_days
        expires = order.created_at + timedelta(days=days) if days and order.created_at else None
        if order.access_expires_at != expires:
            if writer is not None:
                writer.will_update(order)
            order.access_expires_at = expires
            changed.append(order)
    return changed


def _settle_reviews(products: list[Product], writer: Writer | None, actor) -> list[ReviewItem]:
    items = list(
        ReviewItem.objects.open().filter(kind=ReviewKind.COMMISSION_SETTING, product__in=products)
    )
    now = timezone.now()
    for item in items:
        if writer is not None:
            writer.will_update(item)
        item.status = ReviewStatus.VERIFIED
        item.note = (
            f"settled: commission setting loaded by import #{writer.job.pk}"
            if writer is not None
            else "settled: commission setting entered on the product page"
        )
        item.decided_by, item.decided_at = actor, now
    fields = ["status", "note", "decided_by", "decided_at"] + (
        ["job"] if writer is not None else []
    )
    update_rows(ReviewItem, items, fields)
    return items


def refresh_change_log(objs) -> None:
    """After a change outside any import: the after-hash of each row's latest import entry."""
    by_model: dict[str, dict[int, object]] = {}
    for obj in objs:
        if obj.job_id is not None:
            by_model.setdefault(obj._meta.label_lower, {})[obj.pk] = obj
    for label, rows in by_model.items():
        entries = ImportRowChange.objects.filter(
            job_id__in={obj.job_id for obj in rows.values()}, model=label, object_pk__in=list(rows)
        )
        latest = [e for e in entries if e.job_id == rows[e.object_pk].job_id]
        for entry in latest:
            entry.after_hash = digest(snapshot(rows[entry.object_pk]))
        update_rows(ImportRowChange, latest, ["after_hash"])
