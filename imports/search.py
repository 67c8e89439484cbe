"""Global search providers (``opsportal.search``): members and orders.

Members by e-mail, name (trigram indexes on PostgreSQL, migration 0002) or phone — a phone is
normalised the way imports store it (``0853…`` and ``62853…`` find ``+62853…``), then matched
on the phone's trigram index. Orders by their invoice number (``INV 123``, ``#123``, ``123``),
exactly on the unique index. Only for users who may see members or orders.
"""

import re
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse

from opsportal.search import Hit, Provider, Query, contains

from .models import Member, Order
from .normalise import phone_query


def _member_filter(query: Query) -> Q | None:
    q = Q()
    if query.phone_like:
        # as the member list does (normalise.phone_query): 0853… is +62853…; at least 6
        # digits on the phone's trigram index (a short number may be the start of a longer one)
        wanted = phone_query(query.text)
        if len(re.sub(r"\D", "", wanted)) >= 6:
            q |= Q(phone__contains=wanted)
    if query.substring_ok and not query.phone_like:
        q |= contains("email", "name", text=query.text)
    return q or None


def _members(query: Query, limit: int) -> list[Hit]:
    where = _member_filter(query)
    if where is None:
        return []
    # No ORDER BY: sorted by id, PostgreSQL walks the primary key backwards testing every row
    # for a rare word (~900 ms over 100,000 members); unsorted it reads the trigram indexes.
    rows = Member.objects.filter(where).only("email", "phone", "name").order_by()[:limit]
    return [
        Hit(m.name or str(m), m.get_absolute_url(), " · ".join(x for x in (m.email, m.phone) if x))
        for m in rows
    ]


def _more_members(query: Query) -> str:
    return f"{reverse('imports:member_list')}?{urlencode({'q': query.text})}"


_INV = re.compile(r"(?i)(?:inv[\s#:-]*|#)?\s*([A-Za-z0-9-]{1,32})")


def _inv(query: Query) -> str:
    """The invoice number in ``INV 123``, ``#123`` or ``123``; ``""`` when there is no digit in
    it (no invoice number is a word: ``prod`` asks nothing of the orders table)."""
    m = _INV.fullmatch(query.text)
    return m.group(1) if m and any(c.isdigit() for c in m.group(1)) else ""


def _orders(query: Query, limit: int) -> list[Hit]:
    inv = _inv(query)
    if not inv:
        return []
    invs = {inv, query.text} if len(query.text) <= 32 else {inv}
    rows = (
        Order.objects.filter(inv__in=invs)
        .select_related("member", "product")
        .only("inv", "total", "status", "member__email", "member__phone", "product__name")
        .order_by("-pk")[:limit]
    )
    from opsportal.templatetags.portal_format import rupiah

    return [
        Hit(
            str(o),
            o.get_absolute_url(),
            f"{o.member} · {o.product.name} · {rupiah(o.total)} · {o.get_status_display()}",
        )
        for o in rows
    ]


PROVIDERS = [
    Provider(
        "members", "Members", _members, "imports.view_member", order=60, more_url=_more_members
    ),
    Provider("orders", "Orders", _orders, "imports.view_order", order=70),
]
