"""Product settings are data: orders imported before the settings wait for them (never a
commission of 0), loading or editing the settings recomputes those commissions, and every such
change can be rolled back exactly. Orders keep their own delivery details."""

import csv
import io
import json
import subprocess
import sys
from decimal import Decimal

import pytest

from imports import services
from imports.choices import CommissionKind, JobStatus, ReviewKind, ReviewStatus
from imports.models import Commission, Member, Order, Product, ReviewItem
from opsportal.audit.models import AuditEvent

from .conftest import assert_products_and_commissions, table_state
from .factories import MESSY, apply_file, committed, make_job

pytestmark = pytest.mark.django_db

WITHOUT_SETTINGS = ("users.csv", "orders.csv", "commissions.csv")


def import_without_settings(op, folder):
    return [apply_file(op, folder / name) for name in WITHOUT_SETTINGS]


def assert_waiting_for_settings(jobs) -> None:
    """Every commission's amount unknown, one open review item per product sold through an
    affiliate, no false mismatch: the balance check says it cannot verify."""
    commissions = Commission.objects.select_related("order__product")
    assert commissions.exists()
    assert not commissions.filter(amount=0).exists()
    assert not commissions.filter(amount__isnull=False).exists()
    waiting = {c.order.product.name for c in commissions}
    items = ReviewItem.objects.open().filter(kind=ReviewKind.COMMISSION_SETTING)
    assert {i.product.name for i in items} == waiting
    for item in items:
        count = commissions.filter(order__product=item.product).count()
        assert item.summary == f"{count} orders of «{item.product.name}» need a commission setting"
    assert not ReviewItem.objects.filter(kind=ReviewKind.COMMISSION_MISMATCH).exists()
    balances = jobs[-1]
    assert balances.kind == "commissions"
    (note,) = balances.preview["notes"]
    assert "cannot be verified: rates unknown for «" in note


def test_orders_before_their_settings_wait_for_them(client_for):
    client, op = client_for("operator")
    jobs = import_without_settings(op, MESSY)
    assert_waiting_for_settings(jobs)
    page = client.get(jobs[-1].get_absolute_url()).content.decode()
    assert "cannot be verified: rates unknown for" in page


def test_generated_shop_without_settings_waits_for_every_product(
    shared_dir, tmp_path, user_factory
):
    tool = shared_dir / "tools" / "make_sejoli_export.py"
    if not tool.exists():
        pytest.skip("generator not present")
    subprocess.run(
        [sys.executable, str(tool), "--out", str(tmp_path), "--orders", "700", "--seed", "31"],
        check=True, capture_output=True,
    )  # fmt: skip
    op = user_factory("operator")
    assert_waiting_for_settings(import_without_settings(op, tmp_path))
    apply_file(op, tmp_path / "products.csv")
    assert_products_and_commissions(json.loads((tmp_path / "expected.json").read_text()))


def test_settings_loaded_later_recompute_and_roll_back_exactly(user_factory):
    op = user_factory("operator")
    import_without_settings(op, MESSY)
    waiting = table_state()
    settings = apply_file(op, MESSY / "products.csv")
    assert settings.status == JobStatus.COMPLETED
    assert_products_and_commissions(json.loads((MESSY / "expected.json").read_text()))
    items = ReviewItem.objects.filter(kind=ReviewKind.COMMISSION_SETTING)
    assert items.exists()
    assert set(items.values_list("status", flat=True)) == {ReviewStatus.VERIFIED}
    # rolled back: the settings, the amounts and the open review items come back as they were
    with committed():
        services.job_rollback(actor=op, job=settings, reason="wrong rates")
    settings.refresh_from_db()
    assert settings.status == JobStatus.ROLLED_BACK and settings.rollback_conflicts == []
    assert table_state() == waiting


def test_a_setting_entered_by_hand_recomputes_and_the_import_still_rolls_back(user_factory):
    op = user_factory("operator")
    jobs = import_without_settings(op, MESSY)
    product = (
        Product.objects.filter(orders__commission__isnull=False).distinct().order_by("name").first()
    )
    mine = Commission.objects.filter(order__product=product).select_related("order")
    services.product_update(
        actor=op, product=product, price=Decimal("100000"), commission_kind=CommissionKind.FIXED,
        commission_value=Decimal("25000"), access_days=None, reason="from the WordPress screen",
    )  # fmt: skip
    assert all(c.amount == 25000 * c.order.quantity for c in mine)
    event = AuditEvent.objects.get(action="import.product.updated")
    assert event.actor == op and event.changes["commissions_recomputed"] == mine.count()
    assert event.changes["commission_kind"] == ["", "fixed"]
    item = ReviewItem.objects.get(kind=ReviewKind.COMMISSION_SETTING, product=product)
    assert item.status == ReviewStatus.VERIFIED and item.decided_by == op
    # The imports still know the recomputed commissions and the settled review item as their
    # own: rolled back, they leave nothing behind but the product someone set by hand.
    conflicts = []
    for job in reversed(jobs):
        with committed():
            services.job_rollback(actor=op, job=job, reason="start again")
        job.refresh_from_db()
        assert job.status == JobStatus.ROLLED_BACK
        conflicts += job.rollback_conflicts
    assert [(c["model"], c["pk"], c["reason"]) for c in conflicts] == [
        ("imports.product", product.pk, "changed since the import")
    ]
    assert not Order.objects.exists() and not Commission.objects.exists()
    assert not ReviewItem.objects.exists()
    assert list(Product.objects.all()) == [product]


def test_an_unchanged_setting_records_nothing(user_factory):
    op = user_factory("operator")
    product = Product.objects.create(
        name="Kelas", price=Decimal("150000.00"), commission_kind="percent",
        commission_value=Decimal("20.00"),
    )  # fmt: skip
    services.product_update(
        actor=op, product=product, price=Decimal("150000"), commission_kind="percent",
        commission_value=Decimal("20"), access_days=None,
    )  # fmt: skip
    assert not AuditEvent.objects.filter(action="import.product.updated").exists()


def test_orders_keep_their_delivery_details_and_members_their_address(user_factory):
    op = user_factory("operator")
    users = {row["email"].lower(): row for row in read_rows(MESSY / "users.csv")}
    apply_file(op, MESSY / "users.csv")
    apply_file(op, MESSY / "orders.csv")
    rows = [r for r in read_rows(MESSY / "orders.csv") if r["email"]]
    multiline = [r for r in rows if "\n" in r["address"]]
    assert multiline, "the fixture has addresses with line breaks"
    for row in multiline[:20] + rows[:20]:
        order = Order.objects.select_related("member").get(inv=row["INV"])
        assert order.shipping_address == ("" if row["address"] == "-" else row["address"])
        assert order.courier == ("" if row["courier"] == "-" else row["courier"])
        assert order.variant == ("" if row["variant"] == "-" else row["variant"])
        assert order.payment == row["payment"]
        member_address = users[row["email"].lower()]["address"]
        assert order.member.address == ("" if member_address == "-" else member_address)
    assert Member.objects.exclude(address="").count() <= len(users)


def read_rows(path):
    text = path.read_text(encoding="utf-8")
    header = text.index("INV,") if "INV," in text else 0
    return list(csv.DictReader(io.StringIO(text[header:], newline="")))


@pytest.mark.parametrize("batch_size", [1000, 37])
def test_a_preview_writes_nothing_and_predicts_the_apply_exactly(user_factory, batch_size):
    """Previews of Sejoli's files keep what their earlier batches would have created in memory
    (twins, a deleted user's phone, affiliates, products across batches), so they write no row
    and still count exactly what the apply then does."""
    from imports.models import AffiliateProfile, ImportRowChange, SejoliAccount

    op = user_factory("operator")
    member_tables = (Member, SejoliAccount, Product, AffiliateProfile, Order, Commission)
    for name in ("products.csv", "users.csv", "orders.csv", "commissions.csv", "subscriptions.csv"):
        before = [model.objects.count() for model in member_tables]
        job = make_job(op, MESSY / name, batch_size=batch_size)
        assert [model.objects.count() for model in member_tables] == before, name
        assert not ImportRowChange.objects.filter(job=job).exists()
        predicted = {k: job.preview[k] for k in ("created", "updated", "unchanged", "rejected")}
        rejected = list(job.row_errors.values_list("row", "key", "reason"))
        with committed():
            services.job_confirm(actor=op, job=job)
        job.refresh_from_db()
        assert job.status == JobStatus.COMPLETED, name
        applied = {
            "created": job.created_count,
            "updated": job.updated_count,
            "unchanged": job.unchanged_count,
            "rejected": job.rejected_count,
        }
        assert applied == predicted, name
        assert list(job.row_errors.values_list("row", "key", "reason")) == rejected, name
