"""Sejoli's subscriptions export: ``INV, product, created_at, name, email, phone, expired_date,
expired_day, renewal_link`` — memberships that expired and were not renewed, by order."""

from django.utils import timezone
from import_export.fields import Field

from .. import normalise as n
from ..choices import JobKind, MembershipStatus
from ..models import Membership, Order
from ..writer import apply_changes
from .base import Batch, LayoutResource
from .widgets import DateWidget, EmailWidget, IntegerWidget, PhoneWidget, TextWidget


class SubscriptionsResource(LayoutResource):
    kind = JobKind.SUBSCRIPTIONS
    key_field = "inv"
    writes = (Membership,)

    inv = Field(column_name="INV", widget=TextWidget(32))
    product = Field(column_name="product", widget=TextWidget())
    started_at = Field(attribute="started_at", column_name="created_at", widget=DateWidget())
    name = Field(column_name="name", widget=TextWidget())
    email = Field(column_name="email", widget=EmailWidget(soft=True))
    phone = Field(column_name="phone", widget=PhoneWidget())
    expires_at = Field(attribute="expires_at", column_name="expired_date", widget=DateWidget())
    expired_days = Field(column_name="expired_day", widget=IntegerWidget())
    renewal_link = Field(column_name="renewal_link", widget=TextWidget(500))

    @classmethod
    def check(cls, values: dict) -> None:
        if not values["inv"]:
            raise n.Invalid("missing_inv")

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = cls.parse(b, rows)
        invs = {v["inv"] for _, v in parsed}
        orders = {
            inv: rest
            for inv, *rest in Order.objects.filter(inv__any_of=invs).values_list(
                "inv", "pk", "member_id", "product_id", "created_at"
            )
        }
        refs = {m.ref: m for m in Membership.objects.filter(ref__any_of=[f"INV:{i}" for i in invs])}
        now = timezone.now()
        new, seen = [], b.state.setdefault("refs", set())
        for row, v in parsed:
            inv = v["inv"]
            if inv not in orders:
                b.reject(row, inv, "unknown_order")
                continue
            order_id, member_id, product_id, created_at = orders[inv]
            expires = v["expires_at"]
            values = {
                "member_id": member_id,
                "product_id": product_id,
                "order_id": order_id,
                "started_at": v["started_at"] or created_at,
                "expires_at": expires,
                "status": MembershipStatus.EXPIRED
                if expires and expires < now
                else MembershipStatus.ACTIVE,
            }
            ref = f"INV:{inv}"
            current = refs.get(ref)
            if current is None and ref in seen:
                b.done("unchanged", row, inv)  # the same INV again: the first row wins
            elif current is None:
                seen.add(ref)
                new.append((ref, *values.values()))
                b.done("created", row, inv)
            else:
                diff = apply_changes(current, values, b.w)
                if diff:
                    b.w.update(Membership, [current], diff)
                b.done("updated" if diff else "unchanged", row, inv)
        columns = ("ref", "member_id", "product_id", "order_id", "started_at", "expires_at",
                   "status")  # fmt: skip
        b.w.create_rows(Membership, columns, new)
