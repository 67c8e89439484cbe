"""Deliveries shaped as shops post them (our own values).

Sejoli fires ``sejoli/order/new`` and ``sejoli/order/status-updated`` with its order array; a
WordPress webhook plugin posts the fields the team mapped (the webhook log's names), every value
a string, as JSON or as form fields. Dates are Sejoli's ``Y-m-d H:i:s`` in Asia/Jakarta, amounts
as PHP prints floats (``299000`` or ``299000.00``), statuses as codes or Indonesian labels.
"""

import hashlib
import hmac
import json
from urllib.parse import urlencode

BUYERS = {
    "dimas": ("Dimas Rahmawati", "dimas.rahmawati@example.com", "0821-1114-8255"),
    "yuni": ("Yuni Kusuma", "Yuni.Kusuma@Example.com", "+62 813-1052-2654"),
}
AFFILIATES = {48: ("Joko Wijaya", "joko.wijaya@example.com", "081299990048")}


def delivery(order_id, status, *, buyer="dimas", amount="299000", affiliate=48, paid=True, **over):
    name, email, phone = BUYERS[buyer]
    body = {
        "orderId": str(order_id),
        "orderStatus": status,
        "productId": "12",
        "productName": "Kelas Ekspor Pemula",
        "buyerName": name,
        "buyerEmail": email,
        "buyerPhone": phone,
        "buyerWhatsapp": phone,
        "amount": amount,
        "paidAmount": amount if paid else "0",
        "paidAt": "2024-07-22 20:31:05" if paid else "",
        "createdAt": "2024-07-22 20:24:00",
        "affiliateCode": str(affiliate) if affiliate else "0",
        "affiliateName": AFFILIATES[affiliate][0] if affiliate else "",
        "affiliateEmail": AFFILIATES[affiliate][1] if affiliate else "",
        "affiliatePhone": AFFILIATES[affiliate][2] if affiliate else "",
        "affiliateRate": "20" if affiliate else "",
        "affiliateAmount": str(int(int(amount) * 0.2)) if affiliate else "",
    }
    body.update(over)
    return body


def snake_case(body: dict) -> dict:
    import re

    return {re.sub(r"(?<=[a-z])(?=[A-Z])", "_", k).lower(): v for k, v in body.items()}


def order_array(order_id, status, *, grand_total="299000.00", affiliate_id="48"):
    """Sejoli's own order array as a plugin posting ``$order_data`` sends it (nested objects
    such as ``meta_data`` and ``product`` are not fields)."""
    return {
        "ID": str(order_id),
        "product_id": "12",
        "user_id": "731",
        "affiliate_id": affiliate_id,
        "coupon_id": "0",
        "quantity": "1",
        "status": status,
        "payment_gateway": "manual",
        "grand_total": grand_total,
        "type": "regular",
        "created_at": "2024-07-22 20:24:00",
        "buyer_email": "dimas.rahmawati@example.com",
        "buyer_name": "Dimas Rahmawati",
        "meta_data": {"note": "", "shipping_data": None},
        "product": {"ID": 12, "post_title": "Kelas Ekspor Pemula"},
    }


def encode(body: dict, kind: str) -> tuple[bytes, str]:
    if kind == "json":
        return json.dumps(body).encode(), "application/json"
    return urlencode(body).encode(), "application/x-www-form-urlencoded"


def signature(secret: str, raw: bytes) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
