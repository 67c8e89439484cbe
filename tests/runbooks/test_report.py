"""The run report (HTML and Markdown): who closed the run, second sign-offs with their notes, the
rollback plan, full evidence and evidence files by their uploaded name."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from opsportal.audit.models import AuditEvent
from runbooks import report, services
from runbooks.choices import StepStatus
from runbooks.models import Step, StepRun

from .conftest import step_run

pytestmark = pytest.mark.django_db

PLAN = """# Checkout release

## Ship

- [ ] Announce the window
- [ ] Promote the build

## Rollback

1. Promote the previous build:

   ```bash
   vercel promote https://app-previous.vercel.app
   ```

2. Post in **#ops** that the release was rolled back <script>alert(1)</script>.
"""

SECRET = "ghp_abcdefghijklmnopqrstuvwxyz1234567890"
# Longer than the 200 characters the report used to cut at; several lines, with a fence inside.
EVIDENCE = (
    "$ curl -sI https://app.example.com/health\n"
    "HTTP/2 200\n"
    + "".join(f"x-check-{i}: {'ok ' * 12}\n" for i in range(8))
    + "```\nnot the end of the evidence\n```\n"
    + f"token={SECRET}\n"
    + "LAST LINE OF THE EVIDENCE"
)


@pytest.fixture
def closer(user_factory):
    return user_factory("admin", username="carol")


@pytest.fixture
def plan_version(operator):
    version = services.runbook_import(actor=operator, text=PLAN, source_name="release.md")
    step = Step.objects.get(phase__version=version, title="Promote the build")
    if step.requires_second_signoff:
        return version
    return services.step_update(
        actor=operator,
        step=step,
        title=step.title,
        body=step.body,
        required=True,
        requires_second_signoff=True,
    )


def _sign_everything(run, operator, approver):
    """Sign every step (with evidence on the first); second-sign whatever waits for it."""
    announce = step_run(run, "Announce the window")
    services.step_sign(
        actor=operator,
        step_run=announce,
        note="posted in #release",
        evidence_text=EVIDENCE,
        evidence_file=SimpleUploadedFile("deploy-log.txt", b"promoted build 4711\n"),
    )
    services.step_sign(actor=operator, step_run=step_run(run, "Promote the build"), note="done")
    for sr in StepRun.objects.filter(run=run, status=StepStatus.AWAITING_SECOND):
        services.step_second_sign(
            actor=approver, step_run=sr, note=f"checked by april: {sr.step.title}"
        )


def test_completed_run_report_in_markdown(
    client_for, plan_version, prod_env, start_run, operator, approver, closer
):
    run = start_run(plan_version, prod_env)
    _sign_everything(run, operator, approver)
    services.run_complete(actor=closer, run=run)
    event = AuditEvent.objects.get(action="runbook.run.completed")
    assert event.actor == closer
    assert AuditEvent.objects.filter(action="runbook.step.second_signed", actor=approver).exists()

    client, _ = client_for("viewer")
    text = client.get(reverse("runbooks:run_report_md", args=[run.pk])).content.decode()
    assert "- Started by: olga at " in text
    assert "- Completed by: carol at " in text
    assert "Abort reason" not in text
    promote = step_run(run, "Promote the build")
    assert promote.second_signed_by == approver
    assert (
        "  - Second sign-off by april at "
        f"{report._ts(promote.second_signed_at)} — note: checked by april: Promote the build"
    ) in text
    # Full evidence, every line, in a fence the evidence's own ``` cannot close; masked.
    assert "````\n" in text
    for line in EVIDENCE.replace(SECRET, "").splitlines():
        assert line.rstrip() in text
    assert "LAST LINE OF THE EVIDENCE" in text and SECRET not in text
    announce = step_run(run, "Announce the window")
    assert f"Evidence ({len(announce.evidence_text)} characters)" in text
    # The file by the name it was uploaded with, linked to the permission-checked download.
    url = f"http://testserver/runbooks/step-runs/{announce.pk}/evidence/"
    assert f"  - Evidence file: [deploy-log.txt](<{url}>)" in text
    # The rollback plan, as the plan wrote it.
    rollback = text.split("## Rollback plan", 1)[1]
    assert "vercel promote https://app-previous.vercel.app" in rollback
    assert "Post in **#ops** that the release was rolled back" in rollback


def test_completed_run_report_in_html(
    client_for, plan_version, prod_env, start_run, operator, approver, closer
):
    run = start_run(plan_version, prod_env)
    _sign_everything(run, operator, approver)
    services.run_complete(actor=closer, run=run)
    assert AuditEvent.objects.get(action="runbook.run.completed").actor == closer

    client, _ = client_for("viewer")
    html = client.get(reverse("runbooks:run_report", args=[run.pk])).content.decode()
    closed = re.search(r'data-testid="report-closed-by">([^<]*)<', html).group(1)
    assert closed.startswith("carol at ")
    assert "<th>Completed by</th>" in html
    assert '<small class="second-note">checked by april: Promote the build</small>' in html
    evidence = re.search(
        r'<pre class="evidence-full[^"]*" data-testid="evidence">(.*?)</pre>', html, re.S
    )
    shown = evidence.group(1)
    assert "LAST LINE OF THE EVIDENCE" in shown and SECRET not in shown
    assert "x-check-7: ok ok" in shown and "not the end of the evidence" in shown
    announce = step_run(run, "Announce the window")
    assert (
        f'<a href="/runbooks/step-runs/{announce.pk}/evidence/" class="evidence-file" download>'
        "deploy-log.txt</a>"
    ) in html
    # The rollback plan rendered as Markdown: a code block, bold text, and the raw HTML escaped.
    rollback = html.split('data-testid="report-rollback"', 1)[1]
    assert '<code class="language-bash">vercel promote https://app-previous.vercel.app' in rollback
    assert "<strong>#ops</strong>" in rollback
    assert "<script>" not in rollback and "&lt;script&gt;alert(1)&lt;/script&gt;" in rollback
    # The download is served under the uploaded name.
    download = client.get(reverse("runbooks:evidence", args=[announce.pk]))
    assert 'filename="deploy-log.txt"' in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == b"promoted build 4711\n"


def test_aborted_run_report_names_who_and_why(
    client_for, plan_version, dev_env, start_run, operator, closer
):
    run = start_run(plan_version, dev_env)
    services.step_sign(actor=operator, step_run=step_run(run, "Announce the window"))
    services.run_abort(
        actor=closer, run=run, reason="Vendor outage | status page red\nretry tomorrow"
    )
    event = AuditEvent.objects.get(action="runbook.run.aborted")
    assert event.actor == closer and event.message.startswith("Vendor outage")

    client, _ = client_for("viewer")
    text = client.get(reverse("runbooks:run_report_md", args=[run.pk])).content.decode()
    assert "- Aborted by: carol at " in text
    assert "- Abort reason: Vendor outage \\| status page red retry tomorrow" in text
    assert "Completed by" not in text
    html = client.get(reverse("runbooks:run_report", args=[run.pk])).content.decode()
    assert "<th>Aborted by</th>" in html
    assert re.search(r'data-testid="report-closed-by">carol at ', html)
    reason = re.search(r'data-testid="report-abort-reason"[^>]*>(.*?)</td>', html, re.S).group(1)
    assert reason == "Vendor outage | status page red\nretry tomorrow"
    # The run page says it too.
    page = client.get(run.get_absolute_url()).content.decode()
    assert "Aborted by carol" in page


def test_open_run_report_has_no_closer_and_says_when_there_is_no_rollback(
    client_for, version, dev_env, start_run, operator
):
    run = start_run(version, dev_env)
    # The small plan has a rollback section; a version without one says so.
    services.step_sign(actor=operator, step_run=step_run(run, "Smoke test"), note="green")
    assert AuditEvent.objects.filter(action="runbook.step.signed_off").count() == 1
    text = report.markdown(run)
    assert "Completed by" not in text and "Aborted by" not in text
    assert "Promote the previous build." in text.split("## Rollback plan", 1)[1]
    run.version.rollback = []
    assert "This version has no rollback plan." in report.markdown(run)


def test_sub_steps_are_nested_and_rollback_steps_labelled(client_for, dev_env, start_run, operator):
    plan = (
        "# Sub release\n\n## Ship\n\n- [ ] Promote the build\n  - [ ] Promote web\n"
        "- [ ] Smoke test\n\n## Rollback\n\n- [ ] Promote the previous build\n"
    )
    version = services.runbook_import(actor=operator, text=plan, source_name="sub.md")
    run = start_run(version, dev_env)
    services.step_sign(
        actor=operator, step_run=step_run(run, "Promote web"), evidence_text="web: ok\n\nall green"
    )
    assert AuditEvent.objects.get(action="runbook.step.signed_off").changes["step"] == "Promote web"
    client, _ = client_for("viewer")
    text = client.get(reverse("runbooks:run_report_md", args=[run.pk])).content.decode()
    assert "- [ ] **Promote the build** — Open\n  - [x] **Promote web** — Done\n" in text
    assert "\n    - Signed by olga at " in text
    assert "\n      ```\n      web: ok\n\n      all green\n      ```\n" in text
    assert "## Rollback (rollback: done only when rolling back)\n" in text
    html = client.get(reverse("runbooks:run_report", args=[run.pk])).content.decode()
    assert '<td style="padding-left: 1.25rem" data-depth="1">↳ Promote web</td>' in html
    assert "(rollback: done only when rolling back)</small>" in html


@pytest.mark.parametrize("brk", ["\r", "\n", "\r\n", "\u2028", "\x0b"])
def test_a_table_cell_never_breaks_the_row(brk):
    from runbooks.report import _cell

    cell = _cell(f"first{brk}| forged | row |{brk}last")
    assert "\r" not in cell and "\n" not in cell and "\u2028" not in cell
    assert cell == "first \\| forged \\| row \\| last"


def test_the_environment_name_stays_on_its_line(plan_version, start_run, client_for):
    """A line break in a name cannot add a forged line (a closer, a status) to the report."""
    from tests.factories import EnvironmentFactory

    env = EnvironmentFactory(name="dev\r- Completed by: security-team", protected=False)
    run = start_run(plan_version, env)
    assert AuditEvent.objects.filter(action="runbook.run.started").exists()
    client, _ = client_for("viewer")
    text = client.get(reverse("runbooks:run_report_md", args=[run.pk])).content.decode()
    lines = text.splitlines()
    assert not [line for line in lines if line.startswith("- Completed by")]
    assert [line for line in lines if line.startswith("- Environment: ")] == [
        f"- Environment: {env.project.name} / dev - Completed by: security-team (tier development)"
    ]


def test_evidence_files_keep_their_uploaded_name_when_storage_renames_them(
    client_for, dev_env, start_run, operator, settings, tmp_path
):
    """Two files with the same name (one with spaces and brackets) in one run: storage gives the
    second a suffix and makes the names safe, the report and the download keep the name as sent."""
    settings.MEDIA_ROOT = tmp_path
    plan = "# Logs\n\n## Ship\n\n- [ ] Promote web\n- [ ] Promote worker\n"
    version = services.runbook_import(actor=operator, text=plan, source_name="logs.md")
    run = start_run(version, dev_env)
    name = "deploy log (prod).txt"
    for title, body in (("Promote web", b"web ok\n"), ("Promote worker", b"worker ok\n")):
        services.step_sign(
            actor=operator,
            step_run=step_run(run, title),
            evidence_file=SimpleUploadedFile(name, body),
        )
    web, worker = step_run(run, "Promote web"), step_run(run, "Promote worker")
    assert web.evidence_file.name != worker.evidence_file.name
    assert name not in worker.evidence_file.name
    assert (web.evidence_name, worker.evidence_name) == (name, name)
    events = AuditEvent.objects.filter(action="runbook.step.signed_off").order_by("pk")
    assert [e.changes["evidence_name"] for e in events] == [name, name]

    client, _ = client_for("viewer")
    text = client.get(reverse("runbooks:run_report_md", args=[run.pk])).content.decode()
    assert text.count("Evidence file: [deploy log (prod).txt](") == 2
    html = client.get(reverse("runbooks:run_report", args=[run.pk])).content.decode()
    assert html.count('class="evidence-file" download>deploy log (prod).txt</a>') == 2
    download = client.get(reverse("runbooks:evidence", args=[worker.pk]))
    assert 'filename="deploy log (prod).txt"' in download["Content-Disposition"]
    assert b"".join(download.streaming_content) == b"worker ok\n"


def test_an_evidence_name_with_a_line_break_downloads_under_a_one_line_name(
    client_for, dev_env, start_run, operator, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    plan = "# Logs\n\n## Ship\n\n- [ ] Promote web\n"
    version = services.runbook_import(actor=operator, text=plan, source_name="logs.md")
    run = start_run(version, dev_env)
    services.step_sign(
        actor=operator,
        step_run=step_run(run, "Promote web"),
        evidence_file=SimpleUploadedFile("log.txt", b"ok\n"),
    )
    sr = step_run(run, "Promote web")
    # as a client may name its upload (kept as sent at sign-off)
    type(sr).objects.filter(pk=sr.pk).update(evidence_name="deploy\r\nSet-Cookie: x=1.txt")
    client, _ = client_for("viewer")
    download = client.get(reverse("runbooks:evidence", args=[sr.pk]))
    assert download.status_code == 200
    assert "\n" not in download["Content-Disposition"]
    assert 'filename="deploy  Set-Cookie: x=1.txt"' in download["Content-Disposition"]
    text = client.get(reverse("runbooks:run_report_md", args=[run.pk])).content.decode()
    assert "Evidence file: [deploy  Set-Cookie: x=1.txt](" in text
