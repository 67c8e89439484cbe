"""Import file cells that are free text in all but name (a member's group, an order's payment
and courier) mask a credential pasted into them, and the migration that made them masked
repairs what earlier imports stored."""

import importlib
import io

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader

from imports.models import Member, Order
from opsportal.audit.models import AuditEvent

from .factories import CLEAN, apply_file

pytestmark = pytest.mark.django_db

SECRET = "sk_live_51" + "Qz7Kp2Wx9" * 4
MIGRATION = ("imports", "0010_mask_import_cells")


@pytest.fixture
def imported(user_factory):
    op = user_factory("operator")
    apply_file(op, CLEAN / "users.csv")
    apply_file(op, CLEAN / "products.csv")
    apply_file(op, CLEAN / "orders.csv")
    return Member.objects.order_by("pk").first(), Order.objects.order_by("pk").first()


def test_every_write_masks_the_cells(imported):
    member, order = imported
    member.group = f"VIP {SECRET}"
    member.save()
    Order.objects.filter(pk=order.pk).update(payment=f"Manual {SECRET}", courier=SECRET)
    member.refresh_from_db()
    order.refresh_from_db()
    assert SECRET not in member.group and member.group.startswith("VIP ***")
    assert SECRET not in order.payment and SECRET not in order.courier


def test_the_migration_masks_cells_stored_before(imported):
    member, order = imported
    with connection.cursor() as cursor:  # as an earlier version stored them
        cursor.execute("UPDATE imports_member SET \"group\" = %s WHERE id = %s",
                       [f"VIP {SECRET}", member.pk])  # fmt: skip
        cursor.execute("UPDATE imports_order SET payment = %s, courier = %s WHERE id = %s",
                       [f"Manual {SECRET}", "JNE", order.pk])  # fmt: skip
    state = MigrationLoader(connection).project_state(MIGRATION, at_end=True)
    module = importlib.import_module(f"{MIGRATION[0]}.migrations.{MIGRATION[1]}")
    with transaction.atomic():
        module.forwards(state.apps, None)

    member.refresh_from_db()
    order.refresh_from_db()
    assert SECRET not in member.group and SECRET not in order.payment
    assert order.courier == "JNE"
    repaired = AuditEvent.objects.filter(action="data.free_text.masked")
    assert {(e.target_type, e.target_id, tuple(e.changes["fields"])) for e in repaired} == {
        ("imports.member", str(member.pk), ("group",)),
        ("imports.order", str(order.pk), ("payment",)),
    }
    assert not any(SECRET in str(e.changes) + e.message for e in AuditEvent.objects.all())
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith("Audit chain intact")
