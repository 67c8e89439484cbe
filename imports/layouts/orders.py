"""Sejoli's orders export: ``INV, product, created_at, name, email, phone, quantity, price,
status, affiliate, affiliate_id, address, payment, courier, variant, notes`` (plugin 1.14.3 and
later; older versions lack quantity, payment and notes).

The plugin writes the affiliate's user ID under ``affiliate`` and the affiliate's *name* under
``affiliate_id``. An order keeps its own delivery details (address, courier, variant, notes);
its buyer's member record keeps the member's own address. The commission comes from the
product's setting and stays unknown (queued for review) while the product has none.
"""

import operator
from datetime import timedelta
from typing import NamedTuple

from import_export.fields import Field

from opsportal.security import ascii_int

from .. import commissions
from .. import normalise as n
from ..choices import CommissionStatus, JobKind
from ..models import AffiliateProfile, Commission, Member, Order, SejoliAccount
from ..writer import apply_changes
from .base import Batch, LayoutResource
from .widgets import (
    DateWidget,
    EmailWidget,
    IntegerWidget,
    PhoneWidget,
    RupiahWidget,
    StatusWidget,
    TextWidget,
)


class OrdersResource(LayoutResource):
    kind = JobKind.ORDERS
    key_field = "inv"
    writes = (Member, AffiliateProfile, Order, Commission)
    older_versions_lack = ("quantity", "payment", "notes")

    inv = Field(attribute="inv", column_name="INV", widget=TextWidget(32))
    product = Field(attribute="product", column_name="product", widget=TextWidget())
    created_at = Field(attribute="created_at", column_name="created_at", widget=DateWidget())
    name = Field(attribute="name", column_name="name", widget=TextWidget())
    email = Field(attribute="email", column_name="email", widget=EmailWidget())
    phone = Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    # None when the export has no quantity column (before 1.14.3): see _quantity
    quantity = Field(attribute="quantity", column_name="quantity", widget=IntegerWidget())
    total = Field(
        attribute="total",
        column_name="price",
        widget=RupiahWidget(required=True, allow_negative=False),
    )
    status = Field(attribute="status", column_name="status", widget=StatusWidget())
    # swapped by the plugin: the user id is under "affiliate", the name under "affiliate_id"
    aff_id = Field(column_name="affiliate", widget=TextWidget(32))
    aff_name = Field(column_name="affiliate_id", widget=TextWidget())
    shipping_address = Field(
        attribute="shipping_address", column_name="address", widget=TextWidget(2000)
    )
    payment = Field(attribute="payment", column_name="payment", widget=TextWidget(100))
    courier = Field(attribute="courier", column_name="courier", widget=TextWidget(100))
    variant = Field(attribute="variant", column_name="variant", widget=TextWidget())
    notes = Field(attribute="notes", column_name="notes", widget=TextWidget(2000))

    @classmethod
    def check(cls, values: dict) -> None:
        if not values["inv"]:
            raise n.Invalid("missing_inv")
        if not values["product"]:
            raise n.Invalid("missing_product")
        if not values["email"] and not values["phone"]:
            raise n.Invalid("no_contact")
        # accept the two affiliate columns either way round
        aff_id, aff_name = values["aff_id"], values["aff_name"]
        # ASCII digits only: "²".isdigit() is True, and int("²") stops the whole job
        if ascii_int(aff_id) is None and ascii_int(aff_name) is not None:
            aff_id, aff_name = aff_name, aff_id
        values["aff_id"] = ascii_int(aff_id) or 0
        values["aff_name"] = aff_name

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = cls.parse(b, rows)
        plan = _buyers_and_affiliates(b, parsed)
        _write_orders(b, plan)


class _NewBuyer:
    """A buyer this batch creates (no users.csv row): all its orders need is its key."""

    __slots__ = ("email", "name", "phone", "pk")

    def __init__(self, email: str, phone: str, name: str):
        self.email, self.phone, self.name, self.pk = email, phone, name, None


# the member columns a new buyer is written with (the address is the member's own, from
# users.csv: an order's address stays on the order)
BUYER_COLUMNS = ("email", "phone", "name", "address", "group", "referrer_name")


class _Known(NamedTuple):
    """An affiliate already in the database, as far as its orders need it."""

    pk: int
    member_id: int | None


def _buyers_and_affiliates(b: Batch, parsed: list) -> list:
    """(row, values, member, affiliate) per order whose buyer is known; new buyers and
    affiliates are created in bulk. A deleted user's order (no email) belongs to the one member
    with its phone, or is rejected."""
    emails = {p["email"] for _, p in parsed if p["email"]}
    phones = {p["phone"] for _, p in parsed if not p["email"]}
    aff_ids = {p["aff_id"] for _, p in parsed if p["aff_id"]}
    members = dict(Member.objects.filter(email__any_of=emails).values_list("email", "pk"))
    phone_owners: dict[str, list] = {}
    if phones:
        for pk, ph in Member.objects.filter(phone__any_of=phones).values_list("pk", "phone"):
            phone_owners.setdefault(ph, []).append(pk)
    # (pk, member id) is all an order needs of its affiliate: no model instances per batch
    affiliates = {
        uid: _Known(pk, member_id)
        for uid, pk, member_id in AffiliateProfile.objects.filter(
            sejoli_user_id__any_of=aff_ids
        ).values_list("sejoli_user_id", "pk", "member_id")
    }
    account_member = dict(
        SejoliAccount.objects.filter(user_id__any_of=aff_ids).values_list("user_id", "member_id")
    )
    # what earlier batches of a preview created, as the database would have it
    pending_members, pending_phones = b.pending("members"), b.pending("phones")
    pending_affiliates = b.pending("affiliates")
    members.update({e: pending_members[e] for e in emails if e in pending_members})
    for phone in phones & pending_phones.keys():
        phone_owners.setdefault(phone, []).extend(pending_phones[phone])
    affiliates.update({u: pending_affiliates[u] for u in aff_ids if u in pending_affiliates})
    new_members: dict[str, _NewBuyer] = {}
    new_affiliates: dict[int, AffiliateProfile] = {}
    plan = []
    for row, p in parsed:
        if p["email"]:
            member = members.get(p["email"]) or new_members.get(p["email"])
            if member is None:
                member = new_members[p["email"]] = _NewBuyer(p["email"], p["phone"], p["name"])
        else:
            owners = [
                *phone_owners.get(p["phone"], ()),
                *(m for m in new_members.values() if m.phone == p["phone"]),
            ]
            if len(owners) != 1:
                reason = "unknown_phone" if not owners else "phone_shared_by_members"
                b.reject(row, p["inv"], f"deleted user: {reason}")
                continue
            member = owners[0]
        affiliate = None
        if p["aff_id"]:
            affiliate = affiliates.get(p["aff_id"]) or new_affiliates.get(p["aff_id"])
            if affiliate is None:
                affiliate = AffiliateProfile(
                    sejoli_user_id=p["aff_id"],
                    name=p["aff_name"],
                    member_id=account_member.get(p["aff_id"]),
                )
                new_affiliates[p["aff_id"]] = affiliate
        plan.append((row, p, member, affiliate))
    buyers = list(new_members.values())
    rows = [(m.email, m.phone, m.name, "", "", "") for m in buyers]
    for buyer, pk in zip(buyers, b.w.create_rows(Member, BUYER_COLUMNS, rows), strict=True):
        buyer.pk = pk
    b.w.create(AffiliateProfile, list(new_affiliates.values()))
    if b.dry_run:
        pending_members.update(new_members)
        for member in new_members.values():
            if member.phone:
                pending_phones.setdefault(member.phone, []).append(member.pk)
        pending_affiliates.update(new_affiliates)
    return plan


# An order row's columns as created from tuples (Writer.create_rows), in this order.
ORDER_FIELDS = ("quantity", "total", "status", "payment", "created_at", "shipping_address",
                "courier", "variant", "notes")  # fmt: skip
ORDER_COLUMNS = ("inv", "member_id", "product_id", "access_expires_at", "affiliate_id",
                 *ORDER_FIELDS)  # fmt: skip
COMMISSION_COLUMNS = ("order_id", "affiliate_id", "amount", "status")
_order_fields = operator.itemgetter(*ORDER_FIELDS)


def _quantity(quantity: int | None, total, product) -> int:
    """The order's quantity; older exports have none, and their ``price`` is the grand total:
    a whole multiple of the product's price is that many units (fixed commissions are per
    unit)."""
    if quantity:
        return quantity
    if product.price and total and total % product.price == 0:
        return max(1, int(total // product.price))
    return 1


def _write_orders(b: Batch, plan: list) -> None:
    invs = {p["inv"] for _, p, _, _ in plan}
    orders = {o.inv: o for o in Order.objects.filter(inv__any_of=invs)}
    current = {
        c.order_id: c
        for c in Commission.objects.filter(order__any_of=[o.pk for o in orders.values()])
    }
    # New orders and commissions go in as tuples: model instances for 100k rows cost more
    # than writing them. A new commission names its order by position until the order has a key.
    new_orders: list[tuple] = []
    new_comms: list[tuple] = []
    changed_orders, order_fields = [], set()
    changed_comms, comm_fields = [], set()
    seen = b.state.setdefault("invs", set())  # a batch's (a preview's) new orders
    for row, p, member, affiliate in plan:
        inv = p["inv"]
        product = b.product(p["product"])
        p["quantity"] = _quantity(p["quantity"], p["total"], product)
        order = orders.get(inv)
        if order is None and inv in seen:
            b.done("unchanged", row, inv)  # the same INV again: the first row wins
            continue
        if order is None and b.dry_run:
            # a preview only counts the orders (and their commissions) it would create
            seen.add(inv)
            b.done("created", row, inv)
            continue
        member_id = member if isinstance(member, int) else member.pk
        expires = None
        if p["status"] == "completed" and product.access_days and p["created_at"]:
            expires = p["created_at"] + timedelta(days=product.access_days)
        affiliate_id = affiliate.pk if affiliate else None
        commission = None
        if affiliate is not None and affiliate.member_id != member_id:  # none on one's own
            commission = (
                affiliate.pk,
                product.commission_for(p["total"], p["quantity"]),
                commissions.status_for(p["status"]),
            )
        if order is None:
            seen.add(inv)
            new_orders.append(
                (inv, member_id, product.pk, expires, affiliate_id,
                 *_order_fields(p))
            )  # fmt: skip
            if commission is not None:
                new_comms.append((-len(new_orders), *commission))
            b.done("created", row, inv)
            continue
        values = {field: p[field] for field in ORDER_FIELDS}
        values.update(
            member_id=member_id,
            product_id=product.pk,
            access_expires_at=expires,
            affiliate_id=affiliate_id,
        )
        diff = apply_changes(order, values, b.w)
        order_fields.update(diff)
        if diff:
            changed_orders.append(order)
        outcome = "updated" if diff else "unchanged"
        if commission is not None:
            comm = current.get(order.pk)
            if comm is None:
                new_comms.append((order.pk, *commission))
                outcome = "updated"
            else:
                want = dict(zip(COMMISSION_COLUMNS[1:], commission, strict=True))
                if comm.status == CommissionStatus.PAID:
                    want.pop("status")  # a paid commission stays paid
                diff = apply_changes(comm, want, b.w)
                comm_fields.update(diff)
                if diff:
                    changed_comms.append(comm)
                    outcome = "updated"
        b.done(outcome, row, inv)
    order_ids = b.w.create_rows(Order, ORDER_COLUMNS, new_orders)
    b.w.update(Order, changed_orders, sorted(order_fields))
    rows = [
        (order_ids[-ref - 1] if ref < 0 else ref, *rest) for ref, *rest in new_comms
    ]  # a negative reference is the position of a new order
    b.w.create_rows(Commission, COMMISSION_COLUMNS, rows)
    b.w.update(Commission, changed_comms, sorted(comm_fields))
