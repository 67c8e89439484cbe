"""Real browser: upload, preview, confirm, progress to 100 %, download the rejected rows."""

import csv
import io
from pathlib import Path

import pytest

from imports.models import ImportJob, Order
from opsportal.audit.models import AuditEvent
from tests.imports.factories import MESSY_ORDERS

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports" / "sejoli_en_seed7"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_upload_preview_confirm_progress_and_errors(page, live_server, login, user_factory):
    from imports import services

    operator = user_factory("operator")
    users = services.job_create(
        actor=operator, data=(FIXTURES / "users.csv").read_bytes(), name="users.csv",
        validate="now",
    )  # fmt: skip
    services.job_confirm(actor=operator, job=users, enqueue=False)
    services.job_apply(job_id=users.pk)

    login(operator)
    page.goto(f"{live_server.url}/imports/")
    page.set_input_files("#id_file", str(FIXTURES / "orders.csv"))
    page.fill("#id_batch_size", "100")
    page.click("button:has-text('Upload and validate')")
    page.wait_for_url("**/imports/jobs/*/")
    job = ImportJob.objects.get(original_name="orders.csv")
    assert page.inner_text("#preview-created") == str(MESSY_ORDERS["importable"])
    assert page.inner_text("#preview-rejected") == str(len(MESSY_ORDERS["rejected_inv"]))
    assert "no_contact" in page.inner_text("#errors")
    assert Order.objects.count() == 0  # nothing written before confirming

    page.click("button:has-text('Confirm and apply')")
    page.wait_for_selector("#job-progress[data-status='completed']")
    bar = page.locator("#job-progress .progress")
    assert bar.get_attribute("aria-valuenow") == "100"
    assert "100 %" in page.inner_text("#job-progress")
    assert Order.objects.count() == MESSY_ORDERS["importable"]
    assert (
        AuditEvent.objects.filter(action="import.job.confirmed", job_id=job.pk).get().actor
        == operator
    )

    with page.expect_download() as info:
        page.click("#download-errors")
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text())))
    assert rows[0] == ["row", "key", "reason", "explanation"]
    assert sorted(r[1] for r in rows[1:]) == MESSY_ORDERS["rejected_inv"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_product_waiting_for_its_setting_gets_one(page, live_server, login, user_factory):
    """Orders imported before the product settings: the product shows "not set", the operator
    enters a fixed commission, the waiting commissions get their amounts."""
    from imports import services
    from imports.models import Commission, Product

    operator = user_factory("operator")
    for name in ("users.csv", "orders.csv"):
        job = services.job_create(
            actor=operator, data=(FIXTURES / name).read_bytes(), name=name, validate="now"
        )
        services.job_confirm(actor=operator, job=job, enqueue=False)
        services.job_apply(job_id=job.pk)
    product = (
        Product.objects.filter(orders__commission__isnull=False).distinct().order_by("name").first()
    )
    waiting = Commission.objects.filter(order__product=product, amount__isnull=True)
    count = waiting.count()
    assert count > 0

    login(operator)
    page.goto(f"{live_server.url}/imports/products/")
    page.click("[data-testid=needs-setting-filter]")
    row = page.locator("tr", has_text=product.name)
    assert "not set" in row.inner_text()
    row.locator("a:has-text('Edit')").click()
    assert str(count) in page.inner_text("[data-testid=recompute-note]")
    page.select_option("#id_commission_kind", "fixed")
    page.fill("#id_commission_value", "25.000")
    page.click("button:has-text('Save settings')")
    page.wait_for_url("**/imports/products/")
    assert f"{count} commissions recomputed" in page.inner_text("main")
    assert not waiting.exists()
    assert set(
        Commission.objects.filter(order__product=product).values_list("amount", flat=True)
    ) <= {25000, 50000}  # per unit: orders of one or two
