"""Real browser: an imported job → verify a sample (drawn by the imports worker while the page
waits) → one member correct, one wrong → complete → the signed report."""

from pathlib import Path

import pytest

from imports.models import ReviewItem, SampleVerification
from opsportal.audit.models import AuditEvent

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "imports" / "sejoli_id_clean_seed4"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_verify_a_sample_of_an_import(page, live_server, login, user_factory, monkeypatch):
    from imports import services, tasks
    from imports.services import verification as verification_services

    operator = user_factory("operator")
    jobs = {}
    for name in ("users.csv", "orders.csv"):
        job = services.job_create(
            actor=operator, data=(FIXTURES / name).read_bytes(), name=name, validate="now"
        )
        services.job_confirm(actor=operator, job=job, enqueue=False)
        jobs[name] = services.job_apply(job_id=job.pk)
    users = jobs["users.csv"]

    # the worker's queue, run by hand below: the page must wait for it
    queued = []
    monkeypatch.setattr(verification_services, "_enqueue_draw", queued.append)

    login(operator)
    page.goto(f"{live_server.url}{users.get_absolute_url()}")
    page.click("#start-verification")
    page.fill("#id_size", "2")
    page.fill("#id_seed", "2026")
    page.check(f"input[name=also][value='{jobs['orders.csv'].pk}']")
    page.click("button:has-text('Draw the sample')")
    page.wait_for_url("**/imports/verifications/*/")
    ver = SampleVerification.objects.get()
    assert page.inner_text("#verification-seed") == "2026"
    assert "Drawing the sample" in page.inner_text("#verification-drawing")
    assert ver.status == "drawing" and not ver.items.exists() and queued == [ver.pk]
    tasks.draw_verification(ver.pk)  # the imports worker
    page.wait_for_selector("#verification-items")  # the page polled, then reloaded itself
    assert page.locator("#verification-drawing").count() == 0
    first, second = ver.items.order_by("position")

    page.click("a:has-text('Check the next member')")
    page.wait_for_url("**/members/1/")
    assert first.member_label in page.inner_text("h1")
    # the member's users.csv row beside what was stored
    assert page.locator("#sources [data-file='users.csv']").count() >= 1
    assert first.member_label in page.inner_text("#stored")
    page.click("#mark-form button[value=correct]")
    page.wait_for_url("**/members/2/")
    page.fill("#id_note", "name differs from users.csv")
    page.click("#mark-form button[value=wrong]")
    page.wait_for_url(f"**/imports/verifications/{ver.pk}/")
    assert "1 correct" in page.inner_text("#verification-counts")
    assert "1 wrong" in page.inner_text("#verification-counts")
    review = ReviewItem.objects.get(kind="sample_wrong")
    assert review.details["member"] == second.member_id

    page.click("button:has-text('Complete and sign the report')")
    page.wait_for_url(f"**/imports/verifications/{ver.pk}/report/")
    ver.refresh_from_db()
    assert page.inner_text("#report-hash") == ver.content_hash
    assert page.inner_text("#report-results") == "1 correct, 1 wrong"
    assert page.is_visible("#report-verified")
    with page.expect_download() as info:
        page.click("#report-md")
    markdown = Path(info.value.path()).read_text()
    assert "Seed: 2026" in markdown and ver.content_hash in markdown
    assert (
        AuditEvent.objects.get(action="import.verification.completed").changes["content_hash"]
        == ver.content_hash
    )
    assert AuditEvent.objects.filter(action="import.review.raised", actor=operator).exists()

    # the dashboard's panel (filled after the page loads) and the job page show it
    page.goto(f"{live_server.url}/")
    page.wait_for_selector("#verification-panel")
    assert f"#{ver.pk}" in page.inner_text("#verification-panel")
    page.goto(f"{live_server.url}{users.get_absolute_url()}")
    assert "1 correct, 1 wrong" in page.inner_text("#job-verifications")
