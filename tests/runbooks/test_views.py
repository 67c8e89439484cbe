"""Pages: list, import, versions and diff, step edit, run checklist (htmx), reports, dashboard."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from opsportal.audit.models import AuditEvent
from opsportal.audit.services import chain_head
from runbooks import services
from runbooks.choices import StepStatus
from runbooks.models import Runbook, RunbookVersion, Step, StepRun

from .conftest import SMALL_PLAN, step_run

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_list_shows_runbooks_with_bounded_queries(
    client_for, operator, django_assert_max_num_queries
):
    for i in range(6):
        services.runbook_import(actor=operator, text=SMALL_PLAN.replace("Small", f"Small {i}"))
    client, _ = client_for("viewer")
    with django_assert_max_num_queries(12):
        response = client.get(reverse("runbooks:runbook_list"))
    assert response.status_code == 200
    assert response.content.count(b"Small ") >= 6


def test_import_page_uploads_a_plan(client_for):
    client, user = client_for("operator")
    upload = SimpleUploadedFile("small.md", SMALL_PLAN.encode(), content_type="text/markdown")
    response = client.post(reverse("runbooks:runbook_import"), {"file": upload})
    # The upload shows a preview first; Save on it stores the version.
    assert response.status_code == 302 and not RunbookVersion.objects.exists()
    response = client.post(response.url)
    version = RunbookVersion.objects.get()
    assert response.status_code == 302 and response.url == version.get_absolute_url()
    assert AuditEvent.objects.get(action="runbook.imported").actor == user


def test_import_page_shows_errors_and_writes_nothing(client_for, fixtures_dir):
    client, _ = client_for("operator")
    bad = SimpleUploadedFile("latin1.md", (fixtures_dir / "runbooks" / "latin1.md").read_bytes())
    response = client.post(reverse("runbooks:runbook_import"), {"file": bad})
    assert response.status_code == 200
    assert "not valid UTF-8" in response.content.decode()
    response = client.post(reverse("runbooks:runbook_import"), {"text": "just words"})
    assert "No plan structure" in response.content.decode()
    assert not Runbook.objects.exists()
    assert not AuditEvent.objects.filter(action="runbook.imported").exists()


def test_viewer_cannot_import_or_edit(client_for, version):
    client, _ = client_for("viewer")
    assert client.get(reverse("runbooks:runbook_import")).status_code == 403
    step = Step.objects.filter(phase__version=version).first()
    assert client.post(reverse("runbooks:step_edit", args=[step.pk]), {}).status_code == 403


def test_version_page_and_diff(client_for, version, operator):
    step = Step.objects.get(phase__version=version, title="Smoke test")
    services.step_update(
        actor=operator,
        step=step,
        title="Smoke test the inbox",
        body="",
        required=True,
        requires_second_signoff=True,
    )
    client, _ = client_for("viewer")
    response = client.get(reverse("runbooks:runbook_detail", args=[version.runbook_id]))
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "Smoke test the inbox" in page and "second sign-off" in page
    diff = client.get(
        reverse("runbooks:version_diff", args=[version.runbook_id]) + "?a=1&b=2"
    ).content.decode()
    assert '<span class="text-danger">-- Smoke test</span>' in diff
    assert "+- Smoke test the inbox  (second sign-off)" in diff


def test_step_edit_form(client_for, version, dev_env):
    client, _ = client_for("operator")
    step = Step.objects.get(phase__version=version, title="Smoke test")
    url = reverse("runbooks:step_edit", args=[step.pk])
    bad = client.post(url, {"title": "Smoke", "check_type": "http"})
    assert "The check needs an http(s) URL." in bad.content.decode()
    bad = client.post(url, {"title": "Smoke", "check_type": "env_drift"})
    assert "Name the environment to compare with." in bad.content.decode()
    assert RunbookVersion.objects.count() == 1
    ok = client.post(
        url,
        {
            "title": "Health check",
            "required": "on",
            "check_type": "latency",
            "url": "https://app.example.com/health",
            "requests": "30",
            "percentile": "p99",
            "threshold_ms": "800",
            "job_id": "5",  # belongs to another check type: ignored
        },
    )
    assert ok.status_code == 302
    new = Step.objects.get(phase__version__number=2, title="Health check")
    assert new.kind == "check" and new.check_type == "latency"
    assert new.check_config == {
        "url": "https://app.example.com/health",
        "requests": 30,
        "percentile": "p99",
        "threshold_ms": 800.0,
        "timeout": 10.0,
    }
    assert AuditEvent.objects.filter(action="runbook.step.updated").count() == 1
    # The edit page shows the configured check again.
    page = client.get(reverse("runbooks:step_edit", args=[new.pk])).content.decode()
    assert 'value="https://app.example.com/health"' in page and 'value="30"' in page


def test_saving_an_untouched_step_form_makes_no_version(client_for, version):
    client, user = client_for("operator")
    step = Step.objects.get(phase__version=version, title="Smoke test")
    v2 = services.step_update(
        actor=user,
        step=step,
        title="Smoke test",
        body="Open the inbox.\nSend a message.",
        required=True,
        requires_second_signoff=False,
    )
    step = Step.objects.get(phase__version=v2, title="Smoke test")
    events = AuditEvent.objects.count()
    # What a browser sends back for the unchanged form: textarea lines end in CRLF.
    response = client.post(
        reverse("runbooks:step_edit", args=[step.pk]),
        {"title": "Smoke test", "body": "Open the inbox.\r\nSend a message.", "required": "on"},
    )
    assert response.status_code == 200
    assert "Nothing to change" in response.content.decode()
    assert RunbookVersion.objects.filter(runbook=version.runbook).count() == 2
    assert AuditEvent.objects.count() == events
    response = client.post(
        reverse("runbooks:step_edit", args=[step.pk]),
        {"title": "Smoke test", "body": "Open the inbox.\r\nSend two.", "required": "on"},
    )
    assert response.status_code == 302
    v3 = RunbookVersion.objects.get(runbook=version.runbook, number=3)
    new_step = Step.objects.get(phase__version=v3, title="Smoke test")
    assert new_step.body == "Open the inbox.\nSend two."
    assert AuditEvent.objects.filter(action="runbook.step.updated").count() == 2


def test_run_start_form(client_for, version, dev_env):
    client, user = client_for("operator")
    response = client.post(
        reverse("runbooks:run_start", args=[version.pk]),
        {
            "environment": dev_env.pk,
            "planned_start": "2026-01-01T10:00",
            "planned_end": "2026-01-01T09:00",
        },
    )
    assert "end after it starts" in response.content.decode()
    response = client.post(
        reverse("runbooks:run_start", args=[version.pk]),
        {
            "environment": dev_env.pk,
            "planned_start": "2026-01-01T10:00",
            "planned_end": "2026-01-01T11:00",
        },
    )
    assert response.status_code == 302
    assert AuditEvent.objects.get(action="runbook.run.started").actor == user


def test_run_page_query_count(
    client_for, version, dev_env, start_run, django_assert_max_num_queries
):
    run = start_run(version, dev_env)
    client, _ = client_for("viewer")
    with django_assert_max_num_queries(12):
        response = client.get(run.get_absolute_url())
    assert response.status_code == 200
    assert b"0 of 4 steps closed" in response.content
    assert b"Sign off" not in response.content  # viewers read only


def test_htmx_sign_swaps_the_row(client_for, version, dev_env, start_run):
    client, user = client_for("operator")
    run = start_run(version, dev_env, actor=user)
    sr = step_run(run, "Smoke test")
    url = reverse("runbooks:step_action", args=[sr.pk, "sign"])
    response = client.post(url, {"note": "green", "evidence_text": "200 OK"}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="step-{sr.pk}"' in html and "Signed by <strong>" in html
    assert 'hx-swap-oob="true"' in html and "1 of 4 steps closed" in html
    assert StepRun.objects.get(pk=sr.pk).status == StepStatus.DONE
    again = client.post(url, {}, **HX).content.decode()
    assert "already signed off this step" in again
    assert AuditEvent.objects.filter(action="runbook.step.signed_off").count() == 1


def test_htmx_skip_needs_reason_and_second_signoff(
    client_for, version, prod_env, start_run, operator
):
    step = Step.objects.get(phase__version=version, title="Promote the build")
    v2 = services.step_update(
        actor=operator,
        step=step,
        title=step.title,
        body="",
        required=True,
        requires_second_signoff=True,
    )
    run = start_run(v2, prod_env)
    op_client, _ = client_for("operator")
    skip = step_run(run, "Smoke test")
    html = op_client.post(
        reverse("runbooks:step_action", args=[skip.pk, "skip"]), {"note": ""}, **HX
    ).content.decode()
    assert "needs a reason" in html
    promote = step_run(run, "Promote the build")
    op_client.post(reverse("runbooks:step_action", args=[promote.pk, "sign"]), {}, **HX)
    html = op_client.post(
        reverse("runbooks:step_action", args=[promote.pk, "second"]), {}, **HX
    ).content.decode()
    assert "not allowed" in html
    ap_client, approver = client_for("approver")
    html = ap_client.post(
        reverse("runbooks:step_action", args=[promote.pk, "second"]), {"note": "ok"}, **HX
    ).content.decode()
    assert f"Second sign-off by <strong>{approver}</strong>" in html
    assert AuditEvent.objects.get(action="runbook.step.second_signed").actor == approver


def test_failed_step_shows_rollback_plan(client_for, version, dev_env, start_run):
    client, user = client_for("operator")
    run = start_run(version, dev_env, actor=user)
    sr = step_run(run, "Promote the build")
    html = client.post(
        reverse("runbooks:step_action", args=[sr.pk, "fail"]), {"note": "500s"}, **HX
    ).content.decode()
    assert "Rollback plan" in html and "Promote the previous build." in html
    assert AuditEvent.objects.filter(action="runbook.step.failed").exists()


def test_complete_and_abort_views(client_for, version, dev_env, start_run):
    client, user = client_for("operator")
    run = start_run(version, dev_env, actor=user)
    response = client.post(reverse("runbooks:run_complete", args=[run.pk]), follow=True)
    assert "Required steps are still open" in response.content.decode()
    response = client.post(
        reverse("runbooks:run_abort", args=[run.pk]), {"reason": ""}, follow=True
    )
    assert "needs a reason" in response.content.decode()
    client.post(reverse("runbooks:run_abort", args=[run.pk]), {"reason": "vendor outage"})
    run.refresh_from_db()
    assert run.status == "aborted"
    assert AuditEvent.objects.get(action="runbook.run.aborted").message == "vendor outage"


def test_reports_show_every_signoff_and_the_chain_head(
    client_for, version, prod_env, start_run, operator, approver, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    step = Step.objects.get(phase__version=version, title="Promote the build")
    v2 = services.step_update(
        actor=operator,
        step=step,
        title=step.title,
        body="",
        required=True,
        requires_second_signoff=True,
    )
    run = start_run(v2, prod_env)
    services.step_sign(
        actor=operator,
        step_run=step_run(run, "Announce the window"),
        note="posted",
        evidence_text="token ghp_abcdefghijklmnopqrstuvwxyz123456 in output",
        evidence_file=SimpleUploadedFile("a.txt", b"x"),
    )
    services.step_skip(
        actor=operator, step_run=step_run(run, "Back up the database"), reason="nightly backup"
    )
    services.step_sign(actor=operator, step_run=step_run(run, "Promote the build"))
    services.step_second_sign(actor=approver, step_run=step_run(run, "Promote the build"))
    client, _ = client_for("viewer")
    md = client.get(reverse("runbooks:run_report_md", args=[run.pk]))
    text = md.content.decode()
    assert md["Content-Type"].startswith("text/markdown")
    assert "Signed by olga" in text and "Second sign-off by april" in text
    assert "Skip reason: nightly backup" in text
    assert "Evidence file: [a.txt](<http://testserver/runbooks/step-runs/" in text
    assert "ghp_abcdefghijklmnopqrstuvwxyz123456" not in text
    assert chain_head().hash in text
    assert "Planned window" in text and "Actual" in text
    html = client.get(reverse("runbooks:run_report", args=[run.pk])).content.decode()
    assert "april" in html and "nightly backup" in html and chain_head().hash in html
    # A standalone page: it carries the inline icon, or browsers log a /favicon.ico 404.
    assert '<link rel="icon" href="data:image/svg+xml,' in html
    sr = step_run(run, "Announce the window")
    download = client.get(reverse("runbooks:evidence", args=[sr.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"x"


def test_dashboard_panel(client_for, version, dev_env, start_run, operator):
    run = start_run(version, dev_env)
    services.step_sign(actor=operator, step_run=step_run(run, "Smoke test"))
    client, _ = client_for("viewer")
    html = client.get(reverse("dashboard")).content.decode()
    assert "Runbook runs in progress" in html and "1/4 steps" in html


def test_runbook_settings_allow_check_origins(client_for, version):
    client, user = client_for("approver")
    url = reverse("runbooks:runbook_settings", args=[version.runbook_id])
    # The origins checks may reach are an approver's to set, not an operator's.
    operator, _ = client_for("operator")
    assert operator.get(url).status_code == 403
    assert operator.post(url, {"allowed_urls": "http://127.0.0.1:5432"}).status_code == 403
    bad = client.post(url, {"allowed_urls": "not a url"})
    assert "is not an http(s) URL" in bad.content.decode()
    assert not AuditEvent.objects.filter(action="runbook.updated").exists()
    assert client.post(url, {"allowed_urls": "https://status.example.com\n"}).status_code == 302
    version.runbook.refresh_from_db()
    assert version.runbook.allowed_urls == "https://status.example.com"
    event = AuditEvent.objects.get(action="runbook.updated")
    assert event.actor == user
    assert event.changes["allowed_urls"]["after"] == "https://status.example.com"
    viewer, _ = client_for("viewer")
    assert viewer.post(url, {"allowed_urls": ""}).status_code == 403


@pytest.mark.parametrize(
    "query", ["?a=²&b=1", "?a=1&b=١", "?a=99999999999999999999&b=1", "?a=-1&b=1", "?a=1&b=7"]
)
def test_diff_of_versions_that_are_no_numbers_or_do_not_exist_is_404(client_for, version, query):
    client, _ = client_for("operator")
    url = reverse("runbooks:version_diff", args=[version.runbook_id]) + query
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("runbook", ["²", "99999999999999999999999", "-3"])
def test_import_page_ignores_a_runbook_id_that_is_no_number(client_for, runbook):
    client, _ = client_for("operator")
    response = client.get(reverse("runbooks:runbook_import") + f"?runbook={runbook}")
    assert response.status_code == 200
