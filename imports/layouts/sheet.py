"""The team's migration spreadsheet: the orders, memberships and affiliates sheets the migration
checklist asked Sejoli data to be put in, after a spreadsheet program touched them (BOM, ``;``,
amounts and dates in several shapes, rows exported twice, broken rows to reject)."""

from decimal import ROUND_HALF_UP, Decimal

from import_export.fields import Field

from .. import normalise as n
from ..choices import CommissionStatus, JobKind, MembershipStatus
from ..models import AffiliateProfile, Commission, Member, Membership, Order
from ..writer import apply_changes
from .base import Batch, LayoutResource
from .widgets import (
    DateWidget,
    DecimalWidget,
    EmailWidget,
    PhoneWidget,
    RupiahWidget,
    StatusWidget,
    TextWidget,
)


def _rate_amount(total: Decimal, rate: Decimal | None) -> Decimal:
    """The checklist's rule: amount × the row's commission rate (a fraction)."""
    if rate is None:
        return Decimal("0")
    return (total * rate).quantize(Decimal("1"), rounding=ROUND_HALF_UP)


class SheetOrdersResource(LayoutResource):
    kind = JobKind.SHEET_ORDERS
    missing_key = "missing_order_id"
    preview_writes = True  # rows look each other up row by row
    key_field = "order_id"
    writes = (Member, AffiliateProfile, Order, Commission)

    order_id = Field(column_name="order_id", widget=TextWidget(32))
    created_at = Field(column_name="order_date", widget=DateWidget())
    product_id = Field(column_name="product_id", widget=TextWidget(32))
    product_name = Field(column_name="product_name", widget=TextWidget())
    name = Field(column_name="buyer_name", widget=TextWidget())
    email = Field(column_name="buyer_email", widget=EmailWidget())
    phone = Field(column_name="buyer_phone", widget=PhoneWidget())
    whatsapp = Field(column_name="buyer_whatsapp", widget=PhoneWidget())
    amount = Field(column_name="amount", widget=RupiahWidget(required=True, allow_negative=False))
    paid_amount = Field(column_name="paid_amount", widget=TextWidget(32))  # amount is the truth
    status = Field(column_name="payment_status", widget=StatusWidget())
    paid_at = Field(column_name="paid_date", widget=DateWidget())
    expires = Field(column_name="expiry_date", widget=DateWidget())
    aff_code = Field(column_name="affiliate_code", widget=TextWidget(32))
    aff_name = Field(column_name="affiliate_name", widget=TextWidget())
    aff_email = Field(column_name="affiliate_email", widget=EmailWidget(soft=True))
    rate = Field(
        column_name="affiliate_commission_rate", widget=DecimalWidget("bad_commission_rate")
    )
    reported = Field(column_name="affiliate_commission_amount", widget=RupiahWidget())

    @classmethod
    def check(cls, values: dict) -> None:
        values["phone"] = values["phone"] or values["whatsapp"]
        if not values["email"] and not values["phone"]:
            raise n.Invalid("no_contact")
        if not values["product_id"] and not values["product_name"]:
            raise n.Invalid("unknown_product")
        values["product"] = values["product_name"] or f"Product {values['product_id']}"

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        cache: dict = {}
        affiliates: dict[str, AffiliateProfile] = {}
        for row, raw in rows:
            try:
                p = cls.read(raw)
                member = _member_for(b, p["email"], p["phone"], p["name"], cache)
            except n.Invalid as exc:
                b.reject(row, cls.key_of(raw), str(exc))
                continue
            product = b.product(p["product"])
            affiliate = None
            if p["aff_code"]:
                affiliate = (
                    affiliates.get(p["aff_code"])
                    or AffiliateProfile.objects.filter(code=p["aff_code"]).first()
                )
                if affiliate is None:
                    affiliate = AffiliateProfile(
                        code=p["aff_code"], name=p["aff_name"], email=p["aff_email"],
                        commission_rate=p["rate"],
                    )  # fmt: skip
                    b.w.create(AffiliateProfile, [affiliate])
                affiliates[p["aff_code"]] = affiliate
            values = {
                "member_id": member.pk, "product_id": product.pk, "quantity": 1,
                "total": p["amount"], "status": p["status"], "created_at": p["created_at"],
                "access_expires_at": p["expires"],
                "affiliate_id": affiliate.pk if affiliate else None,
            }  # fmt: skip
            order = Order.objects.filter(inv=p["order_id"]).first()
            if order is None:
                order = Order(inv=p["order_id"], **values)
                b.w.create(Order, [order])
                outcome = "created"
            else:
                diff = apply_changes(order, values, b.w)
                if diff:
                    b.w.update(Order, [order], diff)
                outcome = "updated" if diff else "unchanged"
            # The checklist's rule: a commission is earned on a paid order, at the row's rate.
            if (
                affiliate is not None
                and p["status"] == "completed"
                and affiliate.member_id != member.pk
            ):
                rate = p["rate"] if p["rate"] is not None else affiliate.commission_rate
                want = {"affiliate_id": affiliate.pk, "amount": _rate_amount(p["amount"], rate),
                        "reported_amount": p["reported"],
                        "status": CommissionStatus.ADDED}  # fmt: skip
                current = Commission.objects.filter(order=order).first()
                if current is None:
                    b.w.create(Commission, [Commission(order_id=order.pk, **want)])
                    outcome = "updated" if outcome == "unchanged" else outcome
                else:
                    if current.status == CommissionStatus.PAID:
                        want.pop("status")
                    diff = apply_changes(current, want, b.w)
                    if diff:
                        b.w.update(Commission, [current], diff)
                        outcome = "updated" if outcome == "unchanged" else outcome
            b.done(outcome, row, p["order_id"])


def _member_for(b: Batch, email: str, phone: str, name: str, cache: dict):
    """The member of a spreadsheet row: by email; else by a phone exactly one member has; a new
    member otherwise. An email row claims an email-less member with its phone (contact gaps)."""
    if email:
        key = ("e", email)
        if key in cache:
            return cache[key]
        member = Member.objects.filter(email=email).first()
        if member is None and phone:
            owners = list(Member.objects.filter(phone=phone)[:2])
            if len(owners) == 1 and not owners[0].email:
                member = owners[0]
                apply_changes(member, {"email": email}, b.w)
                b.w.update(Member, [member], ["email"])
        if member is None:
            member = Member(email=email, phone=phone, name=name)
            b.w.create(Member, [member])
        cache[key] = member
        return member
    key = ("p", phone)
    if key in cache:
        return cache[key]
    owners = list(Member.objects.filter(phone=phone)[:2])
    if len(owners) > 1:
        raise n.Invalid("phone_shared_by_members")
    member = owners[0] if owners else None
    if member is None:
        member = Member(email=None, phone=phone, name=name)
        b.w.create(Member, [member])
    cache[key] = member
    return member


def _upsert_by_key(b: Batch, model, key_field: str, parsed: list[tuple[int, str, dict]]) -> None:
    """Create or update rows by a natural key, with one query for the batch's existing rows.

    A key the file repeats (rows exported twice) meets the row its first occurrence created.
    """
    keys = {key for _, key, _ in parsed}
    existing = {
        getattr(o, key_field): o for o in model.objects.filter(**{f"{key_field}__any_of": keys})
    }
    for row, key, values in parsed:
        current = existing.get(key)
        if current is None:
            current = existing[key] = model(**{key_field: key}, **values)
            b.w.create(model, [current])
            b.done("created", row, key)
        else:
            diff = apply_changes(current, values, b.w)
            if diff:
                b.w.update(model, [current], diff)
            b.done("updated" if diff else "unchanged", row, key)


class SheetMembershipsResource(LayoutResource):
    kind = JobKind.SHEET_MEMBERSHIPS
    missing_key = "missing_membership_id"
    preview_writes = True  # rows look each other up row by row
    key_field = "ref"
    writes = (Membership,)

    ref = Field(column_name="membership_id", widget=TextWidget(64))
    email = Field(column_name="user_email", widget=EmailWidget())
    product_id = Field(column_name="product_id", widget=TextWidget(32))
    product_name = Field(column_name="product_name", widget=TextWidget())
    started_at = Field(column_name="start_date", widget=DateWidget())
    expires_at = Field(column_name="expiry_date", widget=DateWidget())
    status = Field(column_name="status", widget=TextWidget(16))
    price = Field(column_name="price", widget=TextWidget(32))  # the order's total is the truth
    order_id = Field(column_name="order_id", widget=TextWidget(32))

    @classmethod
    def check(cls, values: dict) -> None:
        values["status"] = values["status"].lower()
        if values["status"] not in MembershipStatus.values:
            raise n.Invalid("unknown_status")

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = []
        for row, raw in rows:
            try:
                v = cls.read(raw)
                order = Order.objects.filter(inv=v["order_id"]).first()
                member_id = order.member_id if order else None
                if order and v["email"]:
                    _fill_email(b, order.member_id, v["email"])
                if member_id is None and v["email"]:
                    member_id = (
                        Member.objects.filter(email=v["email"]).values_list("pk", flat=True).first()
                    )
                if member_id is None:
                    raise n.Invalid("unknown_member")
            except n.Invalid as exc:
                b.reject(row, cls.key_of(raw), str(exc))
                continue
            product_id = order.product_id if order else b.product(v["product_name"]).pk
            values = {"member_id": member_id, "product_id": product_id,
                      "order_id": order.pk if order else None, "started_at": v["started_at"],
                      "expires_at": v["expires_at"], "status": v["status"]}  # fmt: skip
            parsed.append((row, v["ref"], values))
        _upsert_by_key(b, Membership, "ref", parsed)


def _fill_email(b: Batch, member_id: int, email: str) -> None:
    """A member known by phone only learns its email from a membership row of its order."""
    member = Member.objects.filter(pk=member_id, email__isnull=True).first()
    if member is not None and not Member.objects.filter(email=email).exists():
        apply_changes(member, {"email": email}, b.w)
        b.w.update(Member, [member], ["email"])


class SheetAffiliatesResource(LayoutResource):
    kind = JobKind.SHEET_AFFILIATES
    missing_key = "missing_affiliate_code"
    preview_writes = True  # rows look each other up row by row
    key_field = "code"
    writes = (AffiliateProfile,)

    code = Field(column_name="affiliate_code", widget=TextWidget(32))
    name = Field(column_name="affiliate_name", widget=TextWidget())
    email = Field(column_name="affiliate_email", widget=EmailWidget())
    phone = Field(column_name="affiliate_phone", widget=PhoneWidget())
    commission_rate = Field(column_name="commission_rate", widget=DecimalWidget("bad_rate"))
    total_referrals = Field(column_name="total_referrals", widget=TextWidget(32))
    # read as written: the portal computes these itself from the orders
    total_commissions = Field(column_name="total_commissions", widget=TextWidget(32))
    total_paid = Field(column_name="total_paid", widget=TextWidget(32))
    join_date = Field(column_name="join_date", widget=TextWidget(32))

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = [
            (row, v["code"], {k: v[k] for k in ("name", "email", "phone", "commission_rate")})
            for row, v in cls.parse(b, rows)
        ]
        _upsert_by_key(b, AffiliateProfile, "code", parsed)
