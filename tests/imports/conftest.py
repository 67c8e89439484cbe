import json
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from imports import normalise
from imports.models import Commission, Member, Membership, Order

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports"
NATIVE_FILES = ("products.csv", "users.csv", "orders.csv", "commissions.csv", "subscriptions.csv")
KEPT_SETS = sorted(p.name for p in FIXTURES.iterdir() if (p / "expected.json").exists())


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def run_cli(*args) -> list[dict]:
    out = StringIO()
    call_command("import_sejoli", *map(str, args), "--json", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]


def import_set(folder: Path, *extra) -> list[dict]:
    return run_cli(*[folder / f for f in NATIVE_FILES], *extra)


def assert_matches_expected(result: list[dict], expected: dict) -> None:
    """Every figure of the generator's expected.json that the importer can compute."""
    totals = result[-1]["totals"]
    by_kind = {r["kind"]: r for r in result[:-1]}
    assert totals["members"] == expected["members"]["distinct"]
    assert totals["orders"] == expected["orders"]["importable"]
    assert totals["orders_by_status"] == expected["orders"]["by_status"]
    assert totals["completed_total"] == expected["orders"]["completed_total"]
    assert totals["orders_with_affiliate"] == expected["orders"]["with_affiliate"]
    assert totals["commissions"] == expected["orders"]["with_affiliate"]
    assert totals["affiliates"] == expected["affiliates"]["distinct_user_ids"]
    assert totals["subscriptions"] == expected["subscriptions"]["rows"]
    assert totals["possible_duplicates"] == len(expected["members"]["shared_phone_pairs"])
    assert totals["commission_mismatches"] == 0
    assert Decimal(totals["reported_unpaid_total"]) == Decimal(
        expected["commissions"]["total_unpaid"]
    )
    files = expected["files"]
    assert by_kind["users"]["rows"] == files["users.csv"]
    assert by_kind["orders"]["rows"] == files["orders.csv"]
    assert by_kind["commissions"]["rows"] == files["commissions.csv"]
    assert by_kind["subscriptions"]["rows"] == files["subscriptions.csv"]
    assert (
        sorted(r["key"] for r in by_kind["orders"]["rejected"])
        == expected["orders"]["rejected_inv"]
    )
    assert all(r["reason"] for r in by_kind["orders"]["rejected"])
    # merged twins: one member, several Sejoli accounts
    assert totals["sejoli_accounts"] == files["users.csv"]
    assert files["users.csv"] - totals["members"] <= expected["members"]["merged_case_twins"]
    # every buyer of a Sejoli export is a WordPress user: no member without an account
    assert not Member.objects.filter(accounts__isnull=True).exists()
    # shared phones flagged as the generator's pairs
    from imports.models import ReviewItem

    pairs = sorted(
        sorted([i.member.email, i.other_member.email])
        for i in ReviewItem.objects.filter(kind="duplicate_member").select_related(
            "member", "other_member"
        )
    )
    assert pairs == sorted(expected["members"]["shared_phone_pairs"])
    for inv, truth in expected["sample_orders"].items():
        order = Order.objects.select_related("member", "product", "affiliate").get(inv=inv)
        assert order.member.email == truth["member"]
        assert order.product.sejoli_id == truth["product_id"]
        assert order.status == truth["status"]
        assert order.total == Decimal(truth["total"])
        aff = order.affiliate.sejoli_user_id if order.affiliate else None
        assert aff == truth["affiliate_user_id"]
        comm = Commission.objects.filter(order=order).first()
        assert (comm.amount if comm else Decimal("0")) == Decimal(truth["commission"])
        assert (comm.status if comm else None) == truth["commission_status"]
        expires = order.access_expires_at
        got = (
            expires.astimezone(normalise.JAKARTA).strftime("%Y-%m-%d %H:%M:%S") if expires else None
        )
        assert got == truth["expires"]
    assert Membership.objects.count() == expected["subscriptions"]["rows"]
    if "products" in by_kind:
        assert_products_and_commissions(expected)


def assert_products_and_commissions(expected: dict) -> None:
    """The product settings as the team wrote them, and every commission (count and amount per
    status) as Sejoli's rules compute them from those settings."""
    from django.db.models import Count, Sum

    from imports.models import Product

    stored = {
        p.sejoli_id: (p.name, p.price, p.commission_kind, p.commission_value, p.access_days)
        for p in Product.objects.all()
    }
    for product in expected["products"]:
        value = Decimal(product["commission"])
        if product["commission_kind"] == "percent":
            value *= 100  # the generator keeps a fraction; the portal, percent points
        assert stored[product["id"]] == (
            product["name"],
            Decimal(product["price"]),
            product["commission_kind"],
            value,
            product["access_days"],
        )
    per_status = {
        row["status"]: (row["n"], row["amount"])
        for row in Commission.objects.values("status").annotate(n=Count("pk"), amount=Sum("amount"))
    }
    for status, figures in expected["commissions"]["per_order"].items():
        count, amount = per_status.get(status, (0, None))
        assert count == figures["count"], status
        assert (amount or Decimal("0")) == Decimal(figures["amount"]), status
    assert not Commission.objects.filter(amount__isnull=True).exists()


def table_state() -> dict:
    """Every member-data table by natural keys, independent of primary keys and job ids."""
    from imports.models import AffiliateProfile, Product, ReviewItem, SejoliAccount

    def rows(qs, *fields):
        return sorted(tuple(str(v) for v in r) for r in qs.values_list(*fields))

    return {
        "members": rows(Member.objects, "email", "phone", "name", "address", "group",
                        "referrer_name"),
        "accounts": rows(SejoliAccount.objects, "user_id", "member__email", "email"),
        "products": rows(Product.objects, "name", "sejoli_id", "price", "commission_kind",
                         "commission_value", "access_days"),
        "affiliates": rows(AffiliateProfile.objects, "sejoli_user_id", "member__email", "name",
                           "bank_info", "reported_unpaid"),
        "orders": rows(Order.objects, "inv", "member__email", "product__name", "quantity", "total",
                       "status", "payment", "created_at", "access_expires_at",
                       "affiliate__sejoli_user_id", "shipping_address", "courier", "variant",
                       "notes"),
        "commissions": rows(Commission.objects, "order__inv", "affiliate__sejoli_user_id",
                            "amount", "status"),
        "memberships": rows(Membership.objects, "ref", "member__email", "expires_at", "status"),
        "reviews": rows(ReviewItem.objects, "kind", "summary", "status"),
    }  # fmt: skip


SHEET_FILES = ("orders.csv", "affiliates.csv", "memberships.csv")
SHEET_SETS = sorted(p.name for p in FIXTURES.iterdir() if (p / "memberships.csv").exists())
NATIVE_SETS = [name for name in KEPT_SETS if name not in SHEET_SETS]


def assert_sheet_matches_expected(result: list[dict], expected: dict) -> None:
    """Every figure of the spreadsheet generator's expected.json the importer can compute."""
    from imports.models import AffiliateProfile, ReviewItem

    totals = result[-1]["totals"]
    by_kind = {r["kind"]: r for r in result[:-1]}
    orders = expected["orders"]
    assert by_kind["sheet-orders"]["rows"] == orders["data_rows"]
    assert totals["orders"] == orders["valid_distinct"]
    assert by_kind["sheet-orders"]["unchanged"] == orders["duplicate_rows"]
    assert [
        {"row": r["row"], "order_id": r["key"], "reason": r["reason"]}
        for r in by_kind["sheet-orders"]["rejected"]
    ] == orders["rejected"]
    assert totals["orders_by_status"]["completed"] == orders["paid"]
    assert totals["orders_with_affiliate"] == orders["with_affiliate"]
    assert totals["completed_total"] == orders["total_paid_amount"]
    flagged = sorted(
        i.order.inv
        for i in ReviewItem.objects.filter(kind="commission_mismatch").select_related("order")
    )
    assert flagged == orders["commission_mismatches"]
    assert totals["commission_mismatches"] == len(orders["commission_mismatches"])
    assert totals["members"] == expected["members"]["distinct"]
    # A buyer whose every valid row lost its email (contact gaps) can only be known by phone:
    # the generator's truth still names the email, which no file carries.
    assert totals["members_without_email"] >= expected["members"]["known_by_phone_only"]
    assert totals["members_without_email"] <= expected["members"]["known_by_phone_only"] + 2
    assert totals["subscriptions"] == expected["memberships"]["rows"]
    assert totals["active_subscriptions"] == expected["memberships"]["active"]
    assert totals["affiliates"] == expected["affiliates"]["rows"]
    mapped = {
        a.code: a.member.email or a.member.phone
        for a in AffiliateProfile.objects.filter(member__isnull=False).select_related("member")
    }
    assert mapped == expected["affiliates"]["auto_mappable"]
    unmapped = sorted(
        AffiliateProfile.objects.filter(member__isnull=True).values_list("code", flat=True)
    )
    assert unmapped == expected["affiliates"]["unmapped"]
    open_items = ReviewItem.objects.open().filter(kind="affiliate_mapping")
    assert sorted(i.affiliate.code for i in open_items) == expected["affiliates"]["unmapped"]
    for order_id, truth in expected["sample_orders"].items():
        order = Order.objects.select_related("member").get(inv=order_id)
        assert (order.member.email or order.member.phone) == truth["buyer"]
        assert order.total == Decimal(truth["amount"])
        assert (order.status == "completed") == truth["paid"]
        comm = Commission.objects.filter(order=order).first()
        assert (comm.amount if comm else Decimal("0")) == Decimal(truth["commission"])
