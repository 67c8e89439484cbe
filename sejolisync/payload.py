"""Reading what a shop posts: tokens, signatures, and the order fields of a delivery.

What Sejoli sends (see docs/imports.md, "Keeping Sejoli in sync"): Sejoli has no outgoing order
webhook of its own. It fires WordPress actions — ``sejoli/order/new`` with the new order,
``sejoli/order/status-updated`` and ``sejoli/order/set-status/<status>`` when an order's status
changes — and a WordPress webhook plugin (or the team's migration script) posts the order on them,
as JSON or as form fields, every value a string. The fields are those of the team's webhook log
(``orderId``, ``orderStatus``, ``buyerEmail``, ... or the same in snake_case); a plugin that posts
Sejoli's own order array is read too (``ID``, ``status``, ``grand_total``, ``affiliate_id``,
``product_id``, ``created_at``).
"""

import hashlib
import hmac
import json
import re
import secrets
from urllib.parse import parse_qsl

from imports import normalise as n

# A delivery is one order: a few hundred bytes. Anything past this is refused unread.
MAX_BODY = 64 * 1024

SIGNATURE_HEADERS = ("X-Sejoli-Signature", "X-Signature", "X-Hub-Signature-256")

FIELDS = (
    "order_id", "order_status", "product_id", "product_name", "buyer_name", "buyer_email",
    "buyer_phone", "buyer_whatsapp", "amount", "paid_amount", "paid_at", "affiliate_code",
    "affiliate_name", "affiliate_email", "affiliate_phone", "affiliate_rate", "affiliate_amount",
    "created_at",
)  # fmt: skip

# Sejoli's own order array, as a plugin posting ``$order_data`` names it.
ALIASES = {
    "id": "order_id",
    "order": "order_id",
    "invoice": "order_id",
    "inv": "order_id",
    "status": "order_status",
    "grand_total": "amount",
    "total": "amount",
    "affiliate_id": "affiliate_code",
    "product": "product_name",
}

# Status words Sejoli's own code writes besides its codes and labels (normalise.status reads those).
STATUS_ALIASES = {
    "shipped": "shipping",  # sejoli/order/set-status/shipped, hooked by the plugin's own code
    "pending-payment": "on-hold",
    "payment-confirmed": "payment-confirm",
    "processing": "in-progress",
}


class Unreadable(ValueError):
    """The body is neither a JSON object nor form fields."""


# --- tokens and signatures -----------------------------------------------------------------------
def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


def sign(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of the raw body under the hook's signing secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    """``header``: the hex digest, optionally prefixed ``sha256=`` (as GitHub-style senders do)."""
    given = (header or "").strip()
    if given.lower().startswith("sha256="):
        given = given[7:]
    return bool(given) and hmac.compare_digest(sign(secret, body), given.lower())


def signature_header(headers) -> str:
    for name in SIGNATURE_HEADERS:
        if headers.get(name):
            return headers[name]
    return ""


# --- the body ------------------------------------------------------------------------------------
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def snake(key: str) -> str:
    """``buyerEmail`` → ``buyer_email``; ``order-status`` → ``order_status``; ``ID`` → ``id``."""
    return _CAMEL.sub("_", key.strip()).replace("-", "_").replace(" ", "_").lower()


def _scalar(value) -> str | None:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float, str)):
        return str(value)
    return None  # nested objects are not fields


def read_body(body: bytes, content_type: str) -> dict[str, str]:
    """The posted fields by snake_case name (unknown names kept too), every value a string."""
    kind = (content_type or "").split(";")[0].strip().lower()
    text = body.decode("utf-8", "replace")
    if kind == "application/json" or (not kind and text.lstrip().startswith("{")):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):  # RecursionError: nested too deeply
            raise Unreadable("not JSON") from None
        if not isinstance(data, dict):
            raise Unreadable("not a JSON object")
        # a plugin that wraps the order ({"action": ..., "data": {...}})
        if not ({"orderId", "order_id", "ID", "id"} & data.keys()):
            for wrapper in ("data", "order", "payload", "order_data"):
                if isinstance(data.get(wrapper), dict):
                    data = data[wrapper]
                    break
        pairs = list(data.items())
    elif kind in ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""):
        if kind == "multipart/form-data":
            raise Unreadable("multipart is read by the view (read_pairs)")
        pairs = parse_qsl(text, keep_blank_values=True)
        if not pairs:
            raise Unreadable("no form fields")
    else:
        raise Unreadable(f"content type {kind}")
    return read_pairs(pairs)


def read_pairs(pairs) -> dict[str, str]:
    """``(name, value)`` pairs as fields by snake_case name (aliases applied), values as text."""
    fields: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            continue
        text_value = _scalar(value)
        if text_value is None:
            continue
        if "\x00" in key or "\x00" in text_value:  # \u0000 or %00: PostgreSQL keeps no NUL
            raise Unreadable("a NUL byte in a field")
        name = snake(key)[:64]
        name = ALIASES.get(name, name)
        if fields.get(name):
            continue  # the first non-empty value of a name wins
        fields[name] = text_value[:2000]
    return fields


def status(value: str) -> str:
    """A Sejoli status code from a code, an Indonesian or English label (``normalise.status``)."""
    key = " ".join((value or "").strip().lower().split())
    return n.status(STATUS_ALIASES.get(key, key))


def order_ref(fields: dict) -> str:
    return n.text(fields.get("order_id"), 32)
