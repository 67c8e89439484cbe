"""Product settings: the data that decides commissions and access periods."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import (
    transaction,
)

from opsportal.audit.masking import scrub_text
from opsportal.audit.services import record

from .. import commissions
from ..choices import CommissionKind
from ..models import (
    Product,
)
from .common import (
    _hold_member_tables,
    _require,
)

# --- product settings ---------------------------------------------------------------------------
PERM_PRODUCTS = "imports.change_product"
PRODUCT_FIELDS = ("price", "commission_kind", "commission_value", "access_days")


def _product_settings(product: Product) -> dict:
    """The settings as audit values; numbers at the stored precision, so ``150000`` and
    ``150000.00`` are the same setting."""

    def number(value, places="0.01"):
        return None if value is None else str(Decimal(value).quantize(Decimal(places)))

    return {
        "price": number(product.price),
        "commission_kind": product.commission_kind,
        "commission_value": number(product.commission_value),
        "access_days": product.access_days,
    }


def validate_product_settings(
    *,
    price: Decimal | None,
    commission_kind: str,
    commission_value: Decimal | None,
    access_days: int | None,
) -> None:
    """Raise ``ValidationError`` (per field) for settings Sejoli itself would not accept."""
    errors = {}
    if price is not None and price < 0:
        errors["price"] = "A price cannot be negative."
    if commission_kind not in ("", *CommissionKind.values):
        errors["commission_kind"] = f"Unknown commission kind {commission_kind!r}."
    elif commission_kind and commission_value is None:
        errors["commission_value"] = "Give the commission amount for this kind."
    elif commission_value is not None and not commission_kind:
        errors["commission_kind"] = "Say whether the commission is a percent or a fixed amount."
    elif commission_value is not None and commission_value < 0:
        errors["commission_value"] = "A commission cannot be negative."
    elif commission_kind == CommissionKind.PERCENT and commission_value > 100:
        errors["commission_value"] = "A percent commission is at most 100."
    if access_days is not None and access_days < 0:
        errors["access_days"] = "Access days cannot be negative."
    if errors:
        raise ValidationError(errors)


def product_update(
    *,
    actor,
    product: Product,
    price: Decimal | None,
    commission_kind: str,
    commission_value: Decimal | None,
    access_days: int | None,
    reason: str = "",
) -> Product:
    """Change a product's settings; commissions on its orders are recomputed from the new
    setting (their import's rollback still recognises them) and its "needs a commission
    setting" review item is settled. One audited transaction. The product returned says in
    ``recomputed`` how many commission amounts changed (``None``: the settings did not)."""
    _require(actor, PERM_PRODUCTS, "edit product settings")
    validate_product_settings(
        price=price,
        commission_kind=commission_kind,
        commission_value=commission_value,
        access_days=access_days,
    )
    with transaction.atomic():
        _hold_member_tables()
        product = Product.objects.select_for_update().get(pk=product.pk)
        before = _product_settings(product)
        product.price = price
        product.commission_kind = commission_kind
        product.commission_value = commission_value if commission_kind else None
        product.access_days = access_days or None
        after = _product_settings(product)
        changed = [f for f in PRODUCT_FIELDS if before[f] != after[f]]
        product.recomputed = None  # nothing changed, nothing recomputed
        if not changed:
            return product
        product.save(update_fields=changed)
        recomputed = commissions.recompute(product_ids=[product.pk], actor=actor)
        product.recomputed = len(recomputed)  # for the caller's message
        record(
            actor=actor,
            action="import.product.updated",
            target=product,
            changes={
                **{f: [before[f], after[f]] for f in changed},
                "commissions_recomputed": len(recomputed),
                "commissions_before": {str(pk): amount for pk, amount in recomputed[:200]},
            },
            message=scrub_text(reason.strip()),
        )
    return product
