"""The file layouts the importer knows, one module per layout family, each a
django-import-export resource (columns, widgets) with its batch handler.

- ``products``: the team's ``products.csv`` (product settings)
- ``users``, ``orders``, ``commission_balances``, ``subscriptions``: Sejoli's four exports
- ``sheet``: the team's migration spreadsheet (orders, memberships, affiliates)
"""

from . import commission_balances, orders, products, sheet, subscriptions, users  # noqa: F401
from .base import REGISTRY, Batch, LayoutResource

# kind -> every header the kind is known by (recognition reads this; it is never written out)
LAYOUTS: dict[str, list[list[str]]] = {kind: res.variants() for kind, res in REGISTRY.items()}

__all__ = ["LAYOUTS", "REGISTRY", "Batch", "LayoutResource"]
