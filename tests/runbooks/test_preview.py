"""Preview before saving: the tree, counts, warnings and the diff against the latest version, in
the browser's pages and in ``manage.py import_runbook``; Save is one service call."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from opsportal.audit.models import AuditEvent
from runbooks import preview, services
from runbooks.models import Runbook, RunbookVersion
from runbooks.views import IMPORT_SESSION_PREFIX, _unpack

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3rS3cretPassw0rd"

V1 = f"""# Checkout release

## Prepare

- [ ] Announce the window
- [ ] Back up the database
  ```bash
  pg_dump -Fc "postgres://app:{PASSWORD}@db.example.com/app" > app.dump
  ```
- [ ] Check the error rate <!-- ops: second-signoff -->

## Ship

- [ ] Promote the build
  - [ ] Promote web
  - [ ] Promote worker
- [ ] Smoke test <!-- ops: check http GET https://app.example.com/health expect 200 -->

## Rollback

Promote the previous build.
"""

# v2: "Announce the window" gone, the backup's command changed, "Check the error rate" moved to
# Ship, a Verify phase with one new step.
V2 = """# Checkout release

## Prepare

- [ ] Back up the database
  ```bash
  pg_dump -Fc app > app-before-release.dump
  ```

## Ship

- [ ] Check the error rate <!-- ops: second-signoff -->
- [ ] Promote the build
  - [ ] Promote web
  - [ ] Promote worker
- [ ] Smoke test <!-- ops: check http GET https://app.example.com/health expect 200 -->

## Verify

- [ ] Watch the dashboards for 15 minutes

## Rollback

Promote the previous build.
"""

V2_DIFF = {
    "phases_added": ["Verify"],
    "phases_removed": [],
    "phases_changed": [],
    "steps_added": [{"phase": "Verify", "title": "Watch the dashboards for 15 minutes"}],
    "steps_removed": [{"phase": "Prepare", "title": "Announce the window"}],
    "steps_changed": [
        {"phase": "Prepare", "title": "Back up the database", "fields": ["commands"]}
    ],
    "steps_moved": [
        {"title": "Check the error rate", "from": "Prepare", "to": "Ship", "fields": []}
    ],
    "unchanged": False,
}


def _count(html: str, name: str) -> str:
    return re.search(rf'data-testid="count-{name}">([^<]*)<', html).group(1)


def _stored(client) -> dict:
    [key] = [k for k in client.session.keys() if k.startswith(IMPORT_SESSION_PREFIX)]  # noqa: SIM118
    return client.session[key]


# --- the pages -------------------------------------------------------------------------------
def test_pasted_plan_is_previewed_then_saved(client_for):
    client, user = client_for("operator")
    response = client.post(reverse("runbooks:runbook_import"), {"text": V1})
    assert response.status_code == 302 and "/runbooks/import/" in response.url
    assert not Runbook.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="runbook.").exists()
    # Kept server-side, masked before it was kept: the password is in no session row.
    kept = _unpack(_stored(client)["text"])
    assert PASSWORD not in kept and "postgres://app:***" in kept
    assert "Announce the window" in kept

    html = client.get(response.url).content.decode()
    assert "Preview: Checkout release" in html and "saving makes a <strong>new runbook" in html
    assert _count(html, "phases") == "2"
    assert _count(html, "steps") == "7" and "2 sub-steps" in html
    assert _count(html, "checkboxes") == "7 → 7"
    assert _count(html, "commands") == "1"
    assert _count(html, "checks") == "1"
    assert _count(html, "second") == "1"
    titles = re.findall(
        r'data-depth="(\d)">.*?<span class="fw-medium step-title">([^<]*)<', html, re.S
    )
    assert titles == [
        ("0", "Announce the window"),
        ("0", "Back up the database"),
        ("0", "Check the error rate"),
        ("0", "Promote the build"),
        ("1", "Promote web"),
        ("1", "Promote worker"),
        ("0", "Smoke test"),
    ]
    assert '<span class="badge text-bg-warning">second sign-off</span>' in html
    assert '<span class="badge text-bg-primary">check: http</span>' in html
    assert PASSWORD not in html
    assert 'data-testid="save"' in html and 'data-testid="save" disabled' not in html

    response = client.post(response.url)
    version = RunbookVersion.objects.get()
    assert response.status_code == 302 and response.url == version.get_absolute_url()
    assert version.number == 1 and version.source_name == "pasted.md"
    assert PASSWORD not in version.source and version.phases.count() == 2
    event = AuditEvent.objects.get(action="runbook.imported")
    assert event.actor == user and event.changes["version"] == 1 and event.changes["steps"] == 7
    # Saved once: the preview is gone from the session.
    assert not [k for k in client.session.keys() if k.startswith(IMPORT_SESSION_PREFIX)]  # noqa: SIM118
    assert client.post(response.url).status_code in (302, 405)
    assert RunbookVersion.objects.count() == 1


def test_reimport_shows_the_diff_against_the_latest_version(client_for, operator):
    v1 = services.runbook_import(actor=operator, text=V1, source_name="release.md")
    client, user = client_for("operator")
    upload = SimpleUploadedFile("release.md", V2.encode(), content_type="text/markdown")
    response = client.post(
        reverse("runbooks:runbook_import"), {"file": upload, "runbook": v1.runbook_id}
    )
    url = response.url
    html = client.get(url).content.decode()
    assert "saving makes <strong>version 2</strong>" in html
    assert "Changes against v1" in html
    assert re.search(r'diff-phase-added">\+ phase <strong>Verify</strong>', html)
    assert re.search(r'diff-step-removed">− step <strong>Announce the window</strong>', html)
    assert re.search(r'diff-step-added">\+ step <strong>Watch the dashboards for 15 minutes', html)
    assert re.search(
        r'diff-step-changed">~ step <strong>Back up the database</strong> '
        r'<span class="text-body-secondary">in Prepare: commands</span>',
        html,
    )
    assert re.search(
        r'diff-step-moved">→ step <strong>Check the error rate</strong> '
        r'<span class="text-body-secondary">moved from Prepare to Ship',
        html,
    )
    # The source diff is the second view.
    text_diff = re.search(r'data-testid="text-diff">(.*?)</pre>', html, re.S).group(1)
    assert '<span class="text-danger">-- [ ] Announce the window</span>' in text_diff
    assert '<span class="text-success">+## Verify</span>' in text_diff
    assert AuditEvent.objects.filter(action="runbook.imported").count() == 1

    client.post(url)
    v2 = RunbookVersion.objects.get(runbook=v1.runbook, number=2)
    event = AuditEvent.objects.filter(action="runbook.imported").latest("seq")
    assert event.actor == user and event.changes["version"] == 2
    assert event.changes["runbook_created"] is False
    assert list(v2.phases.values_list("title", flat=True)) == ["Prepare", "Ship", "Verify"]


def test_a_version_saved_after_the_preview_is_shown_before_saving(client_for, operator):
    v1 = services.runbook_import(actor=operator, text=V1, source_name="release.md")
    client, _ = client_for("operator")
    url = client.post(
        reverse("runbooks:runbook_import"), {"text": V2, "runbook": v1.runbook_id}
    ).url
    # Someone else imports meanwhile.
    services.runbook_import(actor=operator, text=V1, runbook=v1.runbook, source_name="again.md")
    response = client.post(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Version 2 was saved after this preview was made" in html
    assert "Changes against v2" in html and "saving makes <strong>version 3</strong>" in html
    assert RunbookVersion.objects.filter(runbook=v1.runbook).count() == 2
    assert AuditEvent.objects.filter(action="runbook.imported").count() == 2
    # Having seen it, Save stores version 3.
    assert client.post(url).status_code == 302
    assert RunbookVersion.objects.filter(runbook=v1.runbook, number=3).exists()
    assert AuditEvent.objects.filter(action="runbook.imported").count() == 3


def test_plan_without_steps_previews_with_an_error_and_cannot_be_saved(client_for):
    client, _ = client_for("operator")
    url = client.post(
        reverse("runbooks:runbook_import"), {"text": "# Notes\n\n## Context\n\nJust words.\n"}
    ).url
    html = client.get(url).content.decode()
    assert "The plan has no steps" in html and 'data-testid="save" disabled' in html
    response = client.post(url)  # a hand-made POST gets the service's refusal
    assert response.status_code == 200 and "The plan has no steps" in response.content.decode()
    assert not Runbook.objects.exists()
    assert not AuditEvent.objects.filter(action="runbook.imported").exists()


def test_unknown_or_used_preview_and_permissions(client_for):
    client, _ = client_for("operator")
    response = client.get(reverse("runbooks:runbook_import_preview", args=["0" * 32]), follow=True)
    assert "This import preview has expired" in response.content.decode()
    url = client.post(reverse("runbooks:runbook_import"), {"text": V1}).url
    viewer, _ = client_for("viewer")
    assert viewer.get(url).status_code == 403
    assert viewer.post(url).status_code == 403
    # Another operator's session does not hold this preview.
    other, _ = client_for("operator")
    assert other.post(url).status_code == 302 and not Runbook.objects.exists()
    assert not AuditEvent.objects.filter(action="runbook.imported").exists()


def test_a_new_preview_replaces_the_pending_one(client_for):
    client, _ = client_for("operator")
    first = client.post(reverse("runbooks:runbook_import"), {"text": V1}).url
    second = client.post(reverse("runbooks:runbook_import"), {"text": V2}).url
    assert first != second
    assert "expired" in client.get(first, follow=True).content.decode()
    assert "Watch the dashboards" in client.get(second).content.decode()


# --- the preview itself -------------------------------------------------------------------------
def test_preview_counts_tree_and_diff(operator):
    v1 = services.runbook_import(actor=operator, text=V1, source_name="release.md")
    p = preview.build(V2, source_name="release.md", runbook=v1.runbook)
    assert p.counts["steps"] == 7 and p.counts["phases"] == 3
    assert p.counts["checkboxes_found"] == p.counts["checkbox_steps"] == 7
    diff = {k: v for k, v in p.diff.items() if k not in ("text", "base", "same_source")}
    assert diff == V2_DIFF
    assert p.diff["base"] == 1 and p.diff["same_source"] is False
    same = preview.build(V1, source_name="release.md", runbook=v1.runbook)
    assert same.diff["unchanged"] and same.diff["same_source"]
    assert any("The text is the same as v1" in w for w in same.warnings)


def test_diff_pairs_steps_by_ref_and_repeated_titles_in_order():
    old = preview.phases_from_plan(
        {
            "phases": [
                {
                    "title": "Checks",
                    "steps": [
                        {"title": "Verify", "body": "web"},
                        {"title": "Verify", "body": "api"},
                        {"title": "Create tables", "ref": "T001"},
                    ],
                }
            ]
        }
    )
    new = preview.phases_from_plan(
        {
            "phases": [
                {
                    "title": "Checks",
                    "steps": [
                        {"title": "Verify", "body": "web"},
                        {"title": "Verify", "body": "api and worker"},
                        {"title": "Create the tables", "ref": "T001"},
                    ],
                }
            ]
        }
    )
    d = preview.diff(old, new)
    assert d["steps_changed"] == [
        {"phase": "Checks", "title": "Verify", "fields": ["body"]},
        {"phase": "Checks", "title": "Create the tables", "fields": ["title"]},
    ]
    assert not d["steps_added"] and not d["steps_removed"]


def test_checkbox_mismatch_and_other_warnings():
    data = {
        "phases": [
            {
                "title": "Ship",
                "steps": [
                    {"title": "Deploy", "source": "checklist"},
                    {"title": "Task", "source": "task"},
                    {"title": "x" * 200, "source": "bold"},
                    {"title": "Deploy", "source": "checklist"},
                ],
            }
        ],
        "counts": {"checkboxes_found": 5},
    }
    phases = preview.phases_from_plan(data)
    counts = preview._counts(phases, data, "")
    warnings = preview._warnings(phases, counts, data)
    assert "The source has 5 checkboxes but 2 became checkbox steps" in warnings[0]
    assert any("same title (deploy)" in w for w in warnings)
    assert any("has no title of its own" in w for w in warnings)
    assert any("200 characters long" in w for w in warnings)
    assert any("No rollback section" in w for w in warnings)
    # The parser's own warnings come first, with their line.
    data["warnings"] = [{"line": 12, "message": "a ```bash block shows output"}]
    assert preview._warnings(phases, counts, data)[0] == "Line 12: a ```bash block shows output"


def test_checkboxes_counted_without_the_parser():
    text = (
        "---\ntodo: '- [ ] not a box'\n---\n# Plan\n\n- [ ] one\n  - [x] two\n1. [ ] three\n"
        "* [X] four\n\n```\n- [ ] in a fence\n```\n\n    - [ ] indented code\n\n- [] no\n- [ ]\n"
    )
    assert preview.source_checkboxes(text) == 5


# --- the command line -----------------------------------------------------------------------
def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_cli_preview_shows_tree_counts_and_writes_nothing(tmp_path, capsys):
    call_command("import_runbook", _write(tmp_path, "release.md", V1), "--dry-run")
    out = capsys.readouterr().out
    assert "Checkout release: 2 phases, 7 steps, 1 rollback sections, 0 notes" in out
    assert (
        "phases 2; steps 7 (2 sub-steps); checkboxes in the file 7 -> checkbox steps 7 "
        "(0 ticked); commands 1; automated checks 1; second sign-off marked 1"
    ) in out
    assert "  [ ] Check the error rate  (second sign-off)\n" in out
    assert "\n    [ ] Promote web\n" in out
    assert "  [ ] Smoke test  (check http)\n" in out
    assert PASSWORD not in out
    assert not Runbook.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="runbook.").exists()


def test_cli_preview_against_a_runbook_and_json(tmp_path, capsys, operator, user_factory):
    v1 = services.runbook_import(actor=operator, text=V1, source_name="release.md")
    path = _write(tmp_path, "release.md", V2)
    call_command("import_runbook", path, "--runbook", str(v1.runbook_id), "--dry-run")
    out = capsys.readouterr().out
    assert "Changes against v1:" in out
    assert "  + phase Verify\n" in out
    assert "  - step Announce the window (from Prepare)\n" in out
    assert "  ~ step Back up the database (in Prepare: commands)\n" in out
    assert "  > step Check the error rate (moved from Prepare to Ship)\n" in out
    assert "Source diff:\n--- v1\n+++ release.md\n" in out

    call_command("import_runbook", path, "--runbook", str(v1.runbook_id), "--dry-run", "--json")
    data = json.loads(capsys.readouterr().out)
    assert {"title", "phases", "rollback", "notes", "counts", "warnings", "diff"} <= set(data)
    assert data["counts"]["steps"] == 7 and data["counts"]["checkboxes_found"] == 7
    assert {k: data["diff"][k] for k in V2_DIFF} == V2_DIFF
    assert data["phases"][1]["steps"][1]["title"] == "Promote the build"
    assert RunbookVersion.objects.count() == 1
    assert AuditEvent.objects.filter(action="runbook.imported").count() == 1

    admin = user_factory("admin", username="admin")
    call_command("import_runbook", path, "--runbook", str(v1.runbook_id))
    capsys.readouterr()
    assert RunbookVersion.objects.filter(runbook=v1.runbook, number=2).exists()
    event = AuditEvent.objects.filter(action="runbook.imported").latest("seq")
    assert event.actor == admin and event.changes["version"] == 2


def test_cli_refuses_a_plan_without_steps_and_an_unknown_runbook(tmp_path, capsys):
    path = _write(tmp_path, "notes.md", "# Notes\n\n## Context\n\nJust words.\n")
    with pytest.raises(CommandError, match="The plan has no steps"):
        call_command("import_runbook", path, "--dry-run")
    assert "error: The plan has no steps" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No runbook with id 999"):
        call_command("import_runbook", _write(tmp_path, "r.md", V1), "--runbook", "999")
    assert not AuditEvent.objects.filter(action__startswith="runbook.").exists()


def test_preview_names_the_runbooks_second_signoff_setting(client_for, operator):
    v1 = services.runbook_import(actor=operator, text=V1, source_name="release.md")
    client, _ = client_for("operator")
    url = client.post(reverse("runbooks:runbook_import"), {"text": V1}).url
    setting = re.search(
        r'data-testid="second-signoff-setting">(.*?)</p>', client.get(url).content.decode(), re.S
    )
    assert "<strong>every step</strong> needs" in setting.group(1)
    assert "and the 1 step marked" in setting.group(1)

    approver, user = client_for("approver")
    settings_url = reverse("runbooks:runbook_settings", args=[v1.runbook_id])
    assert 'value="all" selected' in approver.get(settings_url).content.decode()
    response = approver.post(settings_url, {"allowed_urls": "", "second_signoff": "marked"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="runbook.updated")
    assert event.actor == user
    assert event.changes["second_signoff"] == {"before": "all", "after": "marked"}

    url = client.post(
        reverse("runbooks:runbook_import"), {"text": V2, "runbook": v1.runbook_id}
    ).url
    setting = re.search(
        r'data-testid="second-signoff-setting">(.*?)</p>', client.get(url).content.decode(), re.S
    )
    assert "<strong>marked steps only</strong> need a second" in setting.group(1)


def test_version_diff_page_lists_the_same_changes(client_for, operator):
    v1 = services.runbook_import(actor=operator, text=V1, source_name="release.md")
    services.runbook_import(actor=operator, text=V2, runbook=v1.runbook, source_name="release.md")
    assert AuditEvent.objects.filter(action="runbook.imported").count() == 2
    client, _ = client_for("viewer")
    url = reverse("runbooks:version_diff", args=[v1.runbook_id]) + "?a=1&b=2"
    html = client.get(url).content.decode()
    changes = re.search(r'data-testid="changes">(.*?)</ul>', html, re.S).group(1)
    assert "+ phase <strong>Verify</strong>" in changes
    assert "− step <strong>Announce the window</strong>" in changes
    assert "→ step <strong>Check the error rate</strong>" in changes
    assert "in Prepare: commands" in changes
    same = client.get(reverse("runbooks:version_diff", args=[v1.runbook_id]) + "?a=2&b=2")
    assert 'data-testid="changes"' not in same.content.decode()


def test_a_console_transcript_shows_its_command_to_copy_and_its_output_apart(client_for):
    client, _ = client_for("operator")
    plan = (
        "# CLI check\n\n## Prepare\n\n- [ ] Check the CLI\n  ```console\n"
        "  $ vercel --version\n  Vercel CLI 39.1.0\n  ```\n"
    )
    url = client.post(reverse("runbooks:runbook_import"), {"text": plan}).url
    html = client.get(url).content.decode()
    assert (
        '<pre class="command small mb-1" data-lang="console"><code class="language-console">'
        "vercel --version</code></pre>"
    ) in html
    assert '<pre class="small mb-1 border command-output">Vercel CLI 39.1.0</pre>' in html
    client.post(url)
    version = RunbookVersion.objects.get()
    assert AuditEvent.objects.get(action="runbook.imported").changes["version"] == 1
    page = client.get(version.get_absolute_url()).content.decode()
    assert '<pre class="small mb-1 border command-output">Vercel CLI 39.1.0</pre>' in page
