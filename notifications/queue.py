"""'Waiting for me': what each app says waits for this user (``<app>/waiting.py``)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from . import registry
from .hooks import WaitingItem

_LONG_AGO = datetime.min.replace(tzinfo=timezone.get_fixed_timezone(0))


def collect(user) -> list[WaitingItem]:
    """Everything waiting for ``user``, the longest-waiting first."""
    if user is None or not user.is_authenticated:
        return []
    items: list[WaitingItem] = []
    for module in registry.waiting_modules():
        items.extend(module.items(user))
    return sorted(items, key=lambda i: (i.since or _LONG_AGO, i.kind, i.title))


def count(user) -> int:
    """How many entries wait (an app may count without listing: its own ``count(user)``)."""
    if user is None or not user.is_authenticated:
        return 0
    total = 0
    for module in registry.waiting_modules():
        counter = getattr(module, "count", None)
        total += counter(user) if counter is not None else len(module.items(user))
    return total
