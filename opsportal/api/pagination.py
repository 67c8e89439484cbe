"""Cursor pagination for API lists: ``{"items": [...], "next": "<cursor>" | null}``.

Newest first on a unique integer key (``id``, the audit ``seq``): the cursor is the last key of
the page, opaque to clients (they pass ``next`` back as ``?cursor=``). Seeking on the key reads
only the page whatever its depth (see ``opsportal/pagination.py`` for why not OFFSET).
"""

import base64
import binascii

from ninja import Schema
from ninja.errors import HttpError
from pydantic import create_model

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_cache: dict[type, type] = {}


def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The response schema of a paginated list of ``item_schema`` (``<Name>Page``)."""
    if item_schema not in _cache:
        _cache[item_schema] = create_model(
            f"{item_schema.__name__.removesuffix('Out')}Page",
            __base__=Schema,
            items=(list[item_schema], ...),
            next=(str | None, None),
        )
    return _cache[item_schema]


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"k{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("k"):
            raise ValueError
        return int(raw[1:])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise HttpError(
            400, "The cursor is not one this API gave out: pass `next` as is."
        ) from None


def cursor_page(queryset, *, cursor: str | None = None, limit: int | None = None, key: str = "id"):
    """One page of ``queryset`` newest first on ``key``: ``{"items": rows, "next": cursor}``."""
    limit = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
    qs = queryset.order_by(f"-{key}")
    if cursor:
        qs = qs.filter(**{f"{key}__lt": decode_cursor(cursor)})
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": rows, "next": encode_cursor(getattr(rows[-1], key)) if more else None}
