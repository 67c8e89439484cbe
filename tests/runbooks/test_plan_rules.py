"""Parser rules from issue 13, one regression each (on the corpus or a short plan)."""

from pathlib import Path

import pytest

from runbooks.plans import PlanParseError, parse
from runbooks.plans.fences import command

PLANS = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "plans"


def plan_of(name: str):
    return parse((PLANS / name).read_text(encoding="utf-8"))


def steps_of(plan):
    return {s.title: s for s in plan.steps()}


def test_boxes_under_numbered_headings_and_bold_steps_are_steps():
    plan = plan_of("convex-vercel-deploy.md")
    assert plan.checkboxes_found == 13
    assert plan.counts()["checkbox_steps"] == 13
    # "#### 1.1 …" only heads boxes: it groups them as a phase under its section.
    first, second = plan.phases[0], plan.phases[1]
    assert (first.title, first.group) == ("1.1 Deploy the functions", "Phase 1: Convex")
    assert [s.title for s in first.steps] == [
        "Check CONVEX_DEPLOY_KEY names prod:tidy-heron-204",
        "Run the deploy from a clean checkout",
        "Confirm the dashboard lists the new functions",
    ]
    assert (second.title, len(second.steps)) == ("1.2 Verify the webhook", 4)
    # A bold step with its own text keeps the boxes under it as sub-steps.
    steps = steps_of(plan)
    counts = steps["2.2 Check the counts"]
    data = next(p for p in plan.phases if p.title == "Phase 2: Data")
    idx = data.steps.index(counts)
    assert [(s.title, s.parent, s.depth) for s in data.steps[idx + 1 :]] == [
        ("Counts match the export from yesterday", idx, 1),
        ("No document is left without an owner", idx, 1),
    ]


def test_nested_boxes_are_sub_steps_at_any_depth():
    plan = parse(
        "# T\n\n## Do\n\n- [ ] a\n  - [x] a.1\n    - [ ] a.1.1\n  - plain note\n- [ ] b\n"
        "  1. [ ] b.1\n"
    )
    steps = plan.phases[0].steps
    assert [(s.title, s.depth, s.parent, s.checked) for s in steps] == [
        ("a", 0, None, False),
        ("a.1", 1, 0, True),
        ("a.1.1", 2, 1, False),
        ("b", 0, None, False),
        ("b.1", 1, 3, False),
    ]
    assert steps[0].body == "- plain note"


def test_star_plus_and_numbered_boxes_and_boxes_under_plain_bullets():
    plan = parse(
        "# T\n\n## L\n\n* [ ] star\n+ [X] plus\n1. [ ] one\n2) [x] two\n\n"
        "- Backend\n  - [ ] deploy\n"
    )
    steps = plan.phases[0].steps
    assert [(s.title, s.checked) for s in steps] == [
        ("star", False),
        ("plus", True),
        ("one", False),
        ("two", True),
        ("deploy", False),
    ]
    assert "- Backend" in plan.phases[0].description


def test_bold_title_ends_where_the_bold_ends():
    plan = plan_of("id-migration-bold-steps.md")
    steps = steps_of(plan)
    schema = steps["1.4 Verifikasi schema match"]
    assert schema.body == "Buka Convex dashboard, bandingkan tabel `members` dengan skema baru."
    same_line = steps["1.3 Periksa jumlah baris"]
    assert same_line.body.startswith("Hitung per tabel dan catat di run ini.")
    # A bold label ("**Langkah 1:**") takes the rest of its line as the title.
    assert "Langkah 1: Jalankan impor percobaan dengan 100 anggota" in steps


def test_bold_title_with_inline_code():
    steps = steps_of(plan_of("convex-vercel-deploy.md"))
    env = steps["4.1 Update local .env.local"]
    assert env.source == "bold"
    assert env.body.startswith("Copy the new deployment URL")
    assert env.line == 60


def test_h2_groups_above_h3_phases():
    plan = plan_of("h2-groups.md")
    assert [(p.group, p.title) for p in plan.phases] == [
        ("Group A: Databases", "Phase 1: Primary"),
        ("Group A: Databases", "Phase 2: Replicas"),
        ("Group B: Application servers", "Phase 3: Web"),
        ("Group B: Application servers", "Phase 4: Workers"),
    ]
    web = plan.phases[2]
    assert [s.title for s in web.steps] == [
        "Step 1: Drain the first half",
        "Step 2: Patch and return",
        "Patched",
        "Back in the pool",
    ]
    assert web.steps[0].commands[0].code == "./scripts/drain.sh --odd"
    roles = {h.title: h.role for h in plan.outline}
    assert roles["Group A: Databases"] == "group"
    assert roles["Phase 1: Primary"] == "phase"
    assert roles["Quarterly platform maintenance"] == "title"
    assert [r.title for r in plan.rollback] == ["Revert"]


@pytest.mark.parametrize(
    ("name", "rollback"),
    [
        ("convex-vercel-deploy.md", ["🚨 Emergency Procedures"]),
        ("id-deploy-checklist.md", ["🚨 Rollback Darurat"]),
        ("id-nested-bold-checklist.md", ["🔙 Rencana Pemulihan"]),
        ("pt-deploy-checklist.md", ["🔄 Rollback de Emergência"]),
        ("migration-bold-numbered.md", ["Rollback Plan"]),
        ("emergency-procedures.md", ["🚨 Emergency Procedures & Rollback"]),
    ],
)
def test_rollback_sections_in_three_languages(name, rollback):
    plan = plan_of(name)
    assert [r.title for r in plan.rollback] == rollback


def test_emergency_procedures_keep_the_rollback_inside():
    plan = plan_of("convex-vercel-deploy.md")
    (section,) = plan.rollback
    assert "### Rollback" in section.body and "vercel rollback --yes" in section.body
    # Boxes in the rollback section are optional steps of a rollback phase.
    phase = plan.phases[-1]
    assert (phase.title, phase.group, phase.rollback) == (
        "Rollback",
        "🚨 Emergency Procedures",
        True,
    )
    assert [s.required for s in phase.steps] == [False, False]
    # Steps outside it are not rollback and stay required.
    assert all(s.required for p in plan.phases[:-1] for s in p.steps)


def test_a_plan_that_is_itself_the_emergency_procedure():
    plan = plan_of("pt-rollback-checklist.md")
    assert plan.rollback == []
    assert not any(p.rollback for p in plan.phases)
    assert plan.phases[0].group == "⚡ 1. Ativação de Emergência"
    assert plan.counts()["checkbox_steps"] == 10


@pytest.mark.parametrize("title", ["Rollback drill for checkout", "Emergency: payments down"])
def test_a_rollback_section_of_a_rollback_plan_is_not_lost_as_a_note(title):
    """A plan titled with a rollback word reads its sections as phases; a "Rollback" section
    without boxes is still the way back, not a note."""
    plan = parse(
        f"# {title}\n\n## Prepare\n- [ ] Announce the window\n- [ ] Snapshot the database\n\n"
        "## Rollback\n1. Promote the previous build\n2. Restore the snapshot\n"
    )
    assert [p.title for p in plan.phases] == ["Prepare"]
    assert [(r.title, r.body) for r in plan.rollback] == [
        ("Rollback", "1. Promote the previous build\n2. Restore the snapshot")
    ]
    assert plan.notes == []
    roles = {h.title: h.role for h in plan.outline}
    assert roles["Rollback"] == "rollback"


def test_gsd_tasks_keep_every_sub_element():
    plan = plan_of("gsd-checkpoints.md")
    switch, verify, decision, action = plan.phases[0].steps
    assert switch.title == "Switch payments to live mode"
    # A prose <verify> is not a command.
    assert switch.commands == []
    assert "Verify:\n\nOpen the checkout page" in switch.body
    # Without <name>, the title is the first meaningful line.
    assert verify.title == (
        "Checkout deployed to production with live payments; the old checkout is still reachable"
    )
    assert verify.fields["type"] == "checkpoint:human-verify"
    assert verify.fields["gate"] == "blocking"
    assert "What was built:" in verify.body
    assert (
        "How to verify:" in verify.body and "Refund it from the payments dashboard" in verify.body
    )
    assert 'Resume signal: Type "approved" or describe what went wrong' in verify.body
    assert set(verify.fields) >= {"what-built", "how-to-verify", "resume-signal"}
    # The fence inside <how-to-verify> is the command; it leaves the body.
    assert [c.code for c in verify.commands] == [
        'curl -fsS "$APP_URL/api/orders/latest" | jq .status'
    ]
    assert "jq .status" not in verify.body
    assert decision.title == "Keep the legacy checkout for a week or remove it today?"
    assert "Options:" in decision.body and "Remove today" in decision.body
    assert (
        action.title == "Tell the two partners about the new checkout URL and ask them to confirm."
    )
    messages = [w.message for w in plan.warnings]
    assert sum("without <name>" in m for m in messages) == 3


def test_gsd_commands_only_from_real_shell():
    plan = plan_of("gsd-execute-plan.md")
    assert plan.metadata["must_haves"]["truths"][0] == "Invoices are created for every paid order"
    assert plan.metadata["date"] == "2025-11-04"  # a YAML date, stored as text
    steps = steps_of(plan)
    deploy = steps["Task 1: Deploy the invoice functions"]
    assert [c.code for c in deploy.commands] == [
        "npx convex deploy --yes",
        'npx convex logs --prod --history 50 | grep -c "invoices:create"',
    ]
    assert deploy.fields["files"] == "convex/invoices.ts"
    assert "Read first: convex/orders.ts" not in deploy.body  # multi-word label
    assert "convex/orders.ts" in deploy.body
    smoke = steps["Task 2: Smoke test the endpoint"]
    assert smoke.commands == []
    assert "1. The script prints three invoice numbers." in smoke.body
    assert [s.title for s in plan.phases[0].steps if s.parent is not None] == [
        "Each run prints an invoice number",
        "No run takes longer than 2 seconds",
    ]
    latency = steps["Task 3: Measure latency"]
    assert latency.commands[0].code.startswith("node scripts/latency.js --requests 100")
    assert [p.title for p in plan.phases] == ["Tasks", "Verification"]
    assert {n.title for n in plan.notes} >= {"Objective", "Context", "Success criteria", "Output"}


@pytest.mark.parametrize(
    ("lang", "code", "is_command"),
    [
        ("bash", 'vercel promote "$URL" --yes', True),
        ("sh", "./scripts/drain.sh --odd", True),
        ("zsh", "export A=1\nnpm run build", True),
        ("", "git pull\nnpm ci", True),
        ("powershell", "PS C:\\app> Restart-Service api", True),
        ("bash", "Migration status for environment: production\n  backfill done", False),
        ("", "your_app_production=> SELECT count(*) FROM members;\n count\n-------\n 18004", False),
        ("bash", "shop_production=> SELECT 1;", False),
        ("json", '{"ok": true}', False),
        ("sql", "SELECT 1;", False),
        ("text", "[21:14:02] production.INFO: started", False),
        ("", "Columns needed:\n- order_id", False),
        ("console", "Running migrations...\nDone", False),
        ("bash", 'Task: "Contract test for GET /reports/{id}.csv"', False),
    ],
)
def test_which_fences_are_commands(lang, code, is_command):
    assert (command(lang, code)[0] is not None) is is_command


def test_console_prompts_are_stripped_and_output_kept_apart():
    steps = steps_of(plan_of("convex-vercel-deploy.md"))
    (cmd,) = steps["2.1 Run the backfill"].commands
    assert (cmd.lang, cmd.code) == ("console", "npx convex run migrations:backfillOwners --prod")
    assert cmd.output.endswith("✔ Processed 18211 documents")
    assert cmd.as_dict()["output"] == cmd.output


def test_output_fences_stay_in_the_body():
    steps = steps_of(plan_of("convex-vercel-deploy.md"))
    counts = steps["2.2 Check the counts"]
    assert counts.commands == []
    assert "Migration status for environment: production" in counts.body
    psql = steps_of(plan_of("id-migration-bold-steps.md"))["1.3 Periksa jumlah baris"]
    assert psql.commands == [] and "your_app_production=> SELECT count(*)" in psql.body
    migration = plan_of("migration-bold-numbered.md")
    status = steps_of(migration)["Check which migrations already ran:"]
    assert [c.code for c in status.commands] == ["bin/rails db:migrate:status"]
    one = steps_of(migration)["3. Check one order"]
    assert one.commands == [] and "shop_production=>" in one.body


def test_bold_numbered_steps_in_english():
    steps = steps_of(plan_of("migration-bold-numbered.md"))
    maint = steps["1. Put the app in maintenance mode"]
    assert maint.body == "— takes effect within a minute."
    assert maint.commands[0].code == "heroku maintenance:on --app shop-production"
    assert "Step 2: Run the migrations" in steps
    backup = steps["Create a full database backup"]
    assert backup.requires_second_signoff


def test_spec_kit_ids_and_cursor_todos():
    spec = plan_of("speckit-tasks.md")
    assert [(s.ref, s.checked) for s in spec.phases[0].steps] == [
        ("T001", True),
        ("T002", True),
        ("T003", False),
    ]
    assert spec.phases[1].group.startswith("Phase 2: User Story 1")
    cursor = plan_of("cursor-plan.plan.md")
    todos = cursor.phases[0]
    assert todos.title == "Todos"
    assert [(s.ref, s.checked, s.source) for s in todos.steps] == [
        ("add-redis-client", True, "todo"),
        ("switch-store", False, "todo"),
        ("drop-table", False, "todo"),
    ]
    assert cursor.title == "Move the session store to Redis"


def test_indonesian_and_portuguese_checklists():
    nested = plan_of("id-nested-bold-checklist.md")
    first = nested.phases[0]
    assert (first.title, first.group) == ("1. Perencanaan & Persiapan", "🚀 Sebelum Deployment")
    assert first.steps[0].title == "Rencana Deployment Disiapkan"
    assert [s.parent for s in first.steps[1:5]] == [0, 0, 0, 0]
    pt = steps_of(plan_of("pt-deploy-checklist.md"))
    assert pt["Todos os testes passando"].commands[0].code == "pytest -q"
    assert pt["Código formatado"].commands[0].code == "ruff format --check ."
    deploy = steps_of(plan_of("id-deploy-checklist.md"))
    assert "git pull origin main - Tarik perubahan terbaru" in deploy


def test_one_step_per_box_in_two_megabytes_of_items():
    text = "# T\n\n## P\n\n" + "".join(f"- [ ] item {i}\n  - [x] sub {i}\n" for i in range(20000))
    plan = parse(text)
    assert plan.step_count == 40000 == plan.checkboxes_found


def test_a_step_title_is_one_line():
    plan = parse("# T\n\n## P\n\n- [ ] first line\n  second line of the same item\n")
    (step,) = plan.phases[0].steps
    assert (step.title, step.body) == ("first line", "second line of the same item")


def test_no_structure_is_still_an_error():
    with pytest.raises(PlanParseError, match="No plan structure"):
        parse("just a sentence\nand another\n")


@pytest.mark.parametrize(
    "marker",
    [
        "check import-job ²",
        "check env-drift ١٢",
        "check import-job 99999999999999999999",
        "check http https://status.example.com/ expect ³",
        "check latency https://status.example.com/ p95<500ms requests ⁵",
        "check http https://status.example.com/ timeout nan",
        "check http https://status.example.com/ timeout inf",
    ],
)
def test_check_markers_take_ascii_numbers_in_range_only(marker):
    """Unicode digits pass str.isdigit() but not int(); nan/inf pass float() but not JSON."""
    with pytest.raises(PlanParseError, match="check marker is not valid"):
        parse(f"# Plan\n\n## Phase\n- [ ] Step <!-- ops: {marker} -->\n")


def test_check_marker_numbers_are_read():
    plan = parse(
        "# Plan\n\n## Phase\n- [ ] Step <!-- ops: check http https://status.example.com/ "
        "expect 204 timeout 5 -->\n- [ ] Other <!-- ops: check import-job 12 -->\n"
    )
    first, second = plan.phases[0].steps
    assert first.check_config["expected_status"] == 204 and first.check_config["timeout"] == 5.0
    assert second.check_type == "import_job" and second.check_config == {"job_id": 12}


# --- styles added to the corpus later: setext/emoji headings, Windows fences, quoted boxes ----
def test_setext_headings_other_list_markers_and_windows_fences():
    plan = plan_of("windows-iis-release.md")
    assert plan.title == "Ledger API release on IIS"
    assert [p.title for p in plan.phases] == [
        "Before the window",
        "Deploy",
        "Verify ###",
        "Roll back",
    ]
    before, deploy = plan.phases[0], plan.phases[1]
    # "-   [ ]", "[X]", "+ [ ]" and "* [ ]" are all boxes; an uppercase X is ticked.
    assert [(s.title, s.checked) for s in before.steps][2:] == [
        ("Change ticket approved (CAB, Tuesday)", True),
        ("Maintenance page uploaded to both nodes", False),
        ("Backup share \\\\files01\\releases has room for two copies", False),
    ]
    steps = steps_of(plan)
    # A cmd fence is a Windows command; PowerShell prompts mark the commands, the rest is output.
    (schema,) = steps["Run the schema tool"].commands
    assert (schema.lang, schema.code) == (
        "cmd",
        "cd /d D:\\sites\\ledger\nLedger.Migrate.exe --env Production",
    )
    (warm,) = steps["Start the pool and warm up"].commands
    assert warm.code.split("\n") == [
        'Start-WebAppPool -Name "LedgerApi"',
        "Invoke-WebRequest https://web01.internal/health -UseDefaultCredentials",
    ]
    assert "StatusCode        : 200" in steps["Start the pool and warm up"].body
    assert [(s.title, s.depth) for s in deploy.steps[-2:]] == [
        ("Event Viewer (Application) has no new errors", 1),
        ("Repeat 1–5 on node 2 (web02)", 1),
    ]
    # Box lines written inside a fence are code, not steps: the section stays a note.
    tooling = next(n for n in plan.notes if n.title == "Tooling on the jump host")
    assert "- [ ] dotnet --list-runtimes" in tooling.body
    # The setext underline is not part of the rollback plan.
    (rollback,) = plan.rollback
    assert rollback.body.startswith("1. Stop the pool:")


def test_emoji_headings_console_transcripts_and_boxes_in_quotes_and_details():
    plan = plan_of("rails-deploy-runbook.md")
    assert plan.title == "🚂 Billing app deploy (Rails, Capistrano)"
    assert plan.phases[0].steps[0].title == "I have read the runbook and the release notes"
    steps = steps_of(plan)
    (enable,) = steps["1. Put the app in maintenance"].commands
    assert enable.code == "bundle exec cap production maintenance:enable"
    assert enable.output.startswith("00:00 maintenance:enable")
    migrate = steps["2. Migrate"]
    assert migrate.body.startswith("> **Warning**")
    deploy = next(p for p in plan.phases if p.title == "🚀 Deploy")
    idx = deploy.steps.index(migrate)
    # The box in the warning quote and the nested boxes are sub-steps of "2. Migrate".
    assert [(s.title, s.depth, s.checked) for s in deploy.steps[idx + 1 : idx + 5]] == [
        ("DBA on the call before starting", 1, False),
        ("No row without due_on", 1, False),
        ("Spot-check three invoices in the admin", 2, False),
        ("Compare the count with yesterday's report", 2, True),
    ]
    # A psql session is output, kept in the body; boxes inside <details> are steps.
    assert "billing_production=>" in migrate.body
    code = steps["3. Deploy the code"]
    assert "| web  | app1, app2 | puma phased |" in code.body
    assert [s.title for s in deploy.steps if s.parent == deploy.steps.index(code)] == [
        "Clear tmp/cache/assets on the web hosts",
        "Re-run only deploy:assets:precompile",
    ]
    (rollback,) = plan.rollback
    assert "deploy:rollback" in rollback.body and plan.phases[-1].rollback


def test_bold_labels_paren_numbered_boxes_lazy_lines_and_an_empty_box():
    plan = plan_of("supabase-launch-checklist.md")
    assert plan.metadata == {"title": "Going live with Supabase and Vercel", "owner": "web-team"}
    security = plan.phases[0]
    assert "**Supabase configuration** (required):" in security.description
    assert [(s.title, s.checked) for s in security.steps[4:]] == [
        ("E-mail confirmation on", False),
        ("Redirect URLs list the production domain", True),
        ("Leaked-password protection on", False),
    ]
    steps = steps_of(plan)
    # An sql fence is not a command; a lazy continuation line stays in its box's body.
    rls = steps["Row level security on every table: check with"]
    assert rls.commands == [] and "```sql" in rls.body
    pooler = steps["Connection pooler (transaction mode, port 6543) in DATABASE_URL"]
    assert pooler.body == "lazy continuation of the pooler box, still the same item"
    assert steps["Launch announced"].requires_second_signoff
    assert "" in steps and any("checkbox without text" in w.message for w in plan.warnings)
    assert [p.title for p in plan.phases if p.rollback] == ["🆘 Emergency: revert the launch"]


def test_a_fence_of_checklist_lines_is_never_a_command():
    plan = parse(
        "# T\n\n## Do\n\n- [ ] Check the runtimes\n  ```powershell\n  - [ ] dotnet --info\n"
        "  - [ ] Get-Module WebAdministration\n  ```\n"
    )
    (step,) = plan.phases[0].steps
    assert step.commands == [] and "- [ ] dotnet --info" in step.body
    assert any("2 checklist line(s)" in w.message for w in plan.warnings)
    assert plan.checkboxes_found == 1
    # A Markdown example of a checklist is not warned about.
    assert command("markdown", "- [ ] a") == (None, "")
