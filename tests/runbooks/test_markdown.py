"""The plan parser on the project's own plans, the team's real plans and edge cases."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from runbooks.markdown import MAX_BYTES, PlanParseError, parse, parse_bytes

DEMO = Path(__file__).resolve().parents[2] / "runbooks" / "demo_plans"


def _fixture(fixtures_dir, name: str) -> str:
    return (fixtures_dir / "runbooks" / name).read_text(encoding="utf-8")


def _shape(plan):
    return [(p.title, len(p.steps)) for p in plan.phases]


def _commands(plan):
    return sum(len(s.commands) for p in plan.phases for s in p.steps)


# --- the project's own demo plans -------------------------------------------------------------
def test_checklist_plan_with_front_matter_todos():
    plan = parse((DEMO / "release-checklist.md").read_text())
    assert plan.title == "Weekly web release"
    assert plan.metadata["owner"] == "platform-team"
    assert _shape(plan) == [
        ("Todos", 2),
        ("Before the window", 4),
        ("Release", 3),
        ("Verification", 2),
    ]
    todos = plan.phases[0].steps
    assert [(s.ref, s.checked) for s in todos] == [("freeze", True), ("changelog", False)]
    before = plan.phases[1].steps
    assert [s.checked for s in before] == [False, False, True, False]
    # Nested items stay with their parent step.
    assert "last week's baseline" in before[1].body
    release = plan.phases[2].steps
    assert release[0].commands[0].lang == "bash"
    assert "git tag -a" in release[0].commands[0].code
    assert _commands(plan) == 2
    assert [r.title for r in plan.rollback] == ["Rollback Plan"]
    assert "vercel rollback" in plan.rollback[0].body
    assert [n.title for n in plan.notes] == ["Overview", "Notes"]


def test_bold_numbered_steps_with_tables_and_rollback_strategy():
    plan = parse((DEMO / "database-upgrade.md").read_text())
    assert _shape(plan) == [
        ("Phase 1: Preparation", 2),
        ("Phase 2: Cut-over", 3),
        ("Phase 3: Verification", 2),
    ]
    first = plan.phases[0].steps[0]
    assert first.title == "1.1 Inventory extensions and settings"
    # Only shell fences are commands: the SQL query stays in the body.
    assert first.commands == []
    assert "```sql\nSELECT extname" in first.body
    assert "compare them with what version 16 offers" in first.body
    # The body runs to the next step: prose after a fence belongs to 1.2.
    assert "replication lag" in plan.phases[0].steps[1].body
    assert plan.phases[1].steps[2].commands == []
    assert _commands(plan) == 4
    assert plan.rollback[0].title == "Rollback Strategy"
    context = next(n for n in plan.notes if n.title == "Context")
    assert "| Expected downtime | under 2 minutes |" in context.body


def test_task_blocks_become_steps_with_verify_commands():
    plan = parse((DEMO / "convex-release-tasks.md").read_text())
    assert plan.metadata["plan"] == 2
    assert _shape(plan) == [("Tasks", 3)]
    steps = plan.phases[0].steps
    assert [s.title for s in steps] == [
        "Push backend functions",
        "Check the webhook answers",
        "Measure hot-path latency",
    ]
    assert steps[2].verify == "node scripts/latency.js --requests 50 --max-p95 500"
    assert steps[2].commands[0].code == steps[2].verify
    # Blank lines inside <action> do not split the task.
    assert "Stop if the schema validation" in steps[0].body
    assert "Done when: Functions are live" in steps[0].body
    assert {n.title for n in plan.notes} == {"Objective", "Success criteria"}
    assert plan.title.startswith("Ship the backend functions")


def test_indonesian_plan():
    plan = parse((DEMO / "migrasi-data-anggota.md").read_text())
    assert plan.title == "Migrasi Data Anggota ke Portal Baru"
    assert _shape(plan) == [
        ("Tahap 1: Persiapan", 6),
        ("Tahap 2: Impor", 3),
        ("Tahap 3: Verifikasi", 3),
    ]
    first = plan.phases[0].steps[0]
    assert first.title == "1.1 Cadangkan database produksi"
    assert first.commands[0].code.startswith("pg_dump")
    # Checkboxes under a numbered heading step are signable sub-steps of that step.
    steps = plan.phases[0].steps
    assert [(s.title, s.depth, s.parent) for s in steps[1:5]] == [
        ("1.2 Unduh ekspor dari sistem lama", 0, None),
        ("Ekspor pesanan (CSV)", 1, 1),
        ("Ekspor keanggotaan (CSV)", 1, 1),
        ("Ekspor afiliasi (CSV)", 1, 1),
    ]
    assert "Ekspor afiliasi" not in steps[1].body
    assert plan.rollback[0].title == "Rencana Rollback"
    assert "pg_restore" in plan.rollback[0].body
    assert "Catatan" in [n.title for n in plan.notes]


# --- edge cases -------------------------------------------------------------------------------
def test_nested_lists_and_code_inside_items(fixtures_dir):
    plan = parse(_fixture(fixtures_dir, "nested-and-code.md"))
    assert _shape(plan) == [("Checks", 3)]
    parent, nested, with_code = plan.phases[0].steps
    assert parent.title == "Parent step"
    assert "child note one" in parent.body
    # A nested checkbox is a sub-step of its parent box.
    assert (nested.title, nested.depth, nested.parent) == (
        "nested checkbox stays with the parent",
        1,
        0,
    )
    assert "nested checkbox" not in parent.body
    assert with_code.title == "Step with code inside the item"
    assert with_code.checked is True
    assert [(c.lang, c.code) for c in with_code.commands] == [("bash", "make smoke")]
    assert "Then look at the output." in with_code.body
    assert "make smoke" not in with_code.body
    assert "a plain bullet" in plan.phases[0].description
    # A heading without content is dropped; a prose-only section is a note.
    assert [n.title for n in plan.notes] == ["Afterwards"]


def test_front_matter_only(fixtures_dir):
    plan = parse(_fixture(fixtures_dir, "front-matter-only.md"))
    assert plan.title == "Rotate the webhook secret"
    assert _shape(plan) == [("Todos", 3)]
    assert [(s.ref, s.title, s.checked) for s in plan.phases[0].steps] == [
        ("t1", "Generate a new secret", True),
        ("t2", "Update the provider dashboard", False),
        ("3", "Tell the team", False),
    ]


def test_indonesian_headings_and_heading_steps(fixtures_dir):
    plan = parse(_fixture(fixtures_dir, "indonesian.md"))
    assert _shape(plan) == [("Tahap 1: Persiapan", 2), ("Tahap 2: Rilis", 1)]
    assert plan.phases[0].steps[0].title == "Langkah 1: Periksa CI"
    assert "harus hijau" in plan.phases[0].steps[0].body
    assert [r.title for r in plan.rollback] == ["Pemulihan"]
    assert [n.title for n in plan.notes] == ["Latar Belakang", "Catatan"]


def test_task_blocks_separated_without_blank_lines(fixtures_dir):
    plan = parse(_fixture(fixtures_dir, "tasks.md"))
    steps = plan.phases[0].steps
    assert [s.title for s in steps] == ["First task", "Second task"]
    assert steps[0].verify == 'test -f out.txt && grep -q "ok" out.txt 2>&1'
    assert "care & attention" in steps[0].body
    assert plan.title == "Ship it."


def test_heading_without_content_then_steps():
    plan = parse("# T\n\n## Empty\n\n## Work\n\n- [ ] one\n\n### Sub empty\n")
    assert _shape(plan) == [("Work", 1)]
    assert plan.notes == []


def test_invalid_front_matter_is_a_clear_error():
    with pytest.raises(PlanParseError, match="YAML front matter is not valid"):
        parse("---\ntodos: [unclosed\n---\n# T\n- [ ] a\n")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.md", "empty"),
        ("no-structure.md", "No plan structure"),
        ("latin1.md", "not valid UTF-8"),
    ],
)
def test_error_cases(fixtures_dir, name, message):
    with pytest.raises(PlanParseError, match=message):
        parse_bytes((fixtures_dir / "runbooks" / name).read_bytes())


def test_too_large():
    with pytest.raises(PlanParseError, match="limited to 2 MB"):
        parse_bytes(b"# T\n" + b"- [ ] x\n" * (MAX_BYTES // 8 + 1))


# --- the team's real plans (only where ../shared exists) --------------------------------------
def test_shared_convex_deploy_plan(shared_dir):
    plan = parse((shared_dir / "runbooks" / "convex-deploy-plan.md").read_text())
    assert plan.metadata["phase"] == "05-implementation"
    assert "must_haves" in plan.metadata
    assert _shape(plan) == [("Tasks", 6)]
    steps = plan.phases[0].steps
    assert steps[0].title == "Deploy Convex functions to production"
    assert steps[2].title == "Benchmark hot path API response times"
    assert steps[-1].title == "Create deployment summary"
    assert _commands(plan) == 6
    assert steps[0].commands[0].code.startswith('grep "Success')
    assert {"Objective", "Context", "Verification", "Success criteria", "Output"} <= {
        n.title for n in plan.notes
    }


def test_shared_sejoli_checklist(shared_dir):
    plan = parse((shared_dir / "runbooks" / "sejoli-migration-checklist.md").read_text())
    assert plan.title == "Migration Checklist: 18,000 Users dari Sejoli"
    assert len(plan.phases) == 12
    # 90 boxes (17 of them under numbered headings 4, 6 and 7, once lost in their bodies) and
    # the 7 numbered headings of "Yang Belum Siap".
    assert plan.checkboxes_found == 90
    assert plan.step_count == 97
    assert sum(1 for s in plan.steps() if s.is_checkbox) == 90
    # Only the bash fence is a command; prisma, typescript and plain listings are body text.
    assert _commands(plan) == 1
    titles = [p.title for p in plan.phases]
    assert "Database & Schema" in titles
    assert "Post-Import Verification" in titles
    schema = plan.phases[titles.index("Database & Schema")]
    assert schema.steps[0].title == "Add SejoliWebhookLog model"
    assert len(schema.steps) == 7
    assert plan.phases[0].steps[0].title.startswith("1. Database Schema")
    assert plan.phases[-1].steps[-1].title == "Monitoring setup"


def test_shared_three_environment_guide(shared_dir):
    plan = parse((shared_dir / "runbooks" / "three-environment-guide.md").read_text())
    assert plan.title == "Deployment Guide: 3-Environment Setup"
    assert len(plan.phases) == 7
    assert plan.step_count == 20
    # "Build Command: npx convex deploy …" in a bash fence is a setting to paste, not a command.
    assert _commands(plan) == 5
    assert [r.title for r in plan.rollback] == [
        "Emergency Hotfix Workflow",
        "Rollback Workflow",
        "Rollback Strategy",
    ]
    assert "Promote to Production" in plan.rollback[2].body
    daily = next(p for p in plan.phases if p.title == "Daily Development Workflow")
    assert [s.title for s in daily.steps] == [
        "Step 1: Local Development",
        "Step 2: Push to Testing/Preview",
        "Step 3: Production Deployment",
    ]
    assert "Table of Contents" in [n.title for n in plan.notes]


def test_every_shared_plan_parses(shared_dir):
    plans = sorted((shared_dir / "runbooks").glob("*.md"))
    assert plans
    for path in plans:
        plan = parse_bytes(path.read_bytes(), default_title=path.stem)
        assert plan.step_count > 0, path.name
        assert all(s.title for p in plan.phases for s in p.steps), path.name


def test_import_command_dry_run_json(shared_dir, capsys):
    call_command(
        "import_runbook",
        str(shared_dir / "runbooks" / "convex-deploy-plan.md"),
        "--dry-run",
        "--json",
    )
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"title", "metadata", "phases", "rollback", "notes"}
    assert len(data["phases"][0]["steps"]) == 6
    step = data["phases"][0]["steps"][0]
    assert set(step) >= {"title", "body", "commands", "checked"}
    assert step["commands"][0]["lang"] == "sh"


def test_import_command_dry_run_on_own_plan_writes_nothing(db, capsys):
    from runbooks.models import Runbook

    call_command("import_runbook", str(DEMO / "database-upgrade.md"), "--dry-run")
    assert "3 phases, 7 steps" in capsys.readouterr().out
    assert not Runbook.objects.exists()


def test_import_command_errors(fixtures_dir, tmp_path):
    with pytest.raises(CommandError, match="not valid UTF-8"):
        call_command("import_runbook", str(fixtures_dir / "runbooks" / "latin1.md"), "--dry-run")
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_runbook", str(tmp_path / "missing.md"), "--dry-run")


def test_tasks_under_a_heading_join_that_phase():
    text = (
        "# Deploy\n\n## Backend\n\n<task>\n<name>Push</name>\n<verify>make push</verify>\n"
        "</task>\n\n## Frontend\n\n<task>\n<name>Build</name>\n</task>\n"
    )
    plan = parse(text)
    assert _shape(plan) == [("Backend", 1), ("Frontend", 1)]
    assert plan.phases[0].steps[0].commands[0].code == "make push"
    assert plan.phases[1].steps[0].commands == []


def test_ordered_checklists_and_setext_headings():
    plan = parse("Release\n=======\n\nSteps\n-----\n\n1. [ ] first\n2. [x] second\n")
    assert plan.title == "Release"
    assert [(s.title, s.checked) for s in plan.phases[0].steps] == [
        ("first", False),
        ("second", True),
    ]


def test_windows_line_endings_parse_the_same():
    text = (DEMO / "database-upgrade.md").read_text()
    crlf = parse_bytes(text.replace("\n", "\r\n").encode("utf-8-sig"))
    assert crlf.to_dict() == parse(text).to_dict()


def test_import_command_writes_a_version_in_a_project(user_factory, capsys):
    from opsportal.audit.models import AuditEvent
    from runbooks.models import RunbookVersion
    from tests.factories import ProjectFactory

    user_factory("admin", username="admin")
    project = ProjectFactory(name="makalah.ai", slug="makalah-ai")
    call_command("import_runbook", str(DEMO / "migrasi-data-anggota.md"), "--project", "makalah-ai")
    version = RunbookVersion.objects.get()
    assert version.runbook.project == project
    assert version.source_name == "migrasi-data-anggota.md"
    event = AuditEvent.objects.get(action="runbook.imported")
    assert event.actor.username == "admin" and event.changes["steps"] == 12
    with pytest.raises(CommandError, match="No project"):
        call_command("import_runbook", str(DEMO / "database-upgrade.md"), "--project", "nope")
    assert RunbookVersion.objects.count() == 1
