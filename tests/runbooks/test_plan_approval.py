"""Approval written in the plan, enforced by the services: second sign-offs where marked (and
where the runbook's setting says), checks from markers, sub-steps that close after their
children — each write checked against its audit event."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from opsportal.audit.models import AuditEvent
from runbooks import services
from runbooks.choices import SecondSignoff, StepStatus
from runbooks.models import Runbook, Step

from .conftest import step_run

pytestmark = pytest.mark.django_db

MARKED_PLAN = """# Promote the release

## Prepare

- [ ] Announce the window
- [ ] Back up the database
  ```bash
  pg_dump -Fc app > app.dump
  ```

## Ship

- [ ] Promote the build <!-- ops: second-signoff -->
- [ ] Health answers <!-- ops: check http GET https://app.example.com/up expect 200 p95<500ms -->
- [ ] Tell the channel

## Rollback

- [ ] Promote the previous build
"""

NESTED_PLAN = """# Nested

## Do

- [ ] Parent
  - [ ] Child one
  - [ ] Child two
- [ ] Other
"""


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


@pytest.fixture
def marked(operator):
    return services.runbook_import(actor=operator, text=MARKED_PLAN, source_name="promote.md")


def set_policy(version, actor, policy):
    return services.runbook_update(
        actor=actor,
        runbook=version.runbook,
        allowed_urls=version.runbook.allowed_urls,
        project=version.runbook.project,
        second_signoff=policy,
    )


def test_import_stores_markers_checks_and_counts(marked, operator):
    promote = Step.objects.get(phase__version=marked, title="Promote the build")
    assert promote.requires_second_signoff
    assert promote.details["markers"] == ["second-signoff"]
    assert (promote.source, promote.source_line) == ("checklist", 13)
    health = Step.objects.get(phase__version=marked, title="Health answers")
    assert (health.kind, health.check_type) == ("check", "latency")
    # Validated like the step form does: defaults filled in.
    assert health.check_config == {
        "url": "https://app.example.com/up",
        "expected_status": 200,
        "percentile": "p95",
        "threshold_ms": 500.0,
        "timeout": 10.0,
        "requests": 20,
    }
    rollback = marked.phases.get(rollback=True)
    assert [(s.title, s.required) for s in rollback.steps.all()] == [
        ("Promote the previous build", False)
    ]
    (event,) = events("runbook.imported")
    assert event.actor == operator
    assert event.changes["checkboxes"] == 6 and event.changes["steps"] == 6
    assert event.changes["second_signoff_steps"] == 1 and event.changes["checks"] == 1
    assert event.changes["second_signoff"] == SecondSignoff.ALL


def test_protected_run_needs_the_second_person_where_marked(
    marked, prod_env, start_run, operator, approver, user_factory
):
    set_policy(marked, approver, SecondSignoff.MARKED)
    (updated,) = events("runbook.updated")
    assert updated.changes["second_signoff"] == {"before": "all", "after": "marked"}
    assert updated.actor == approver
    run = start_run(marked, prod_env)
    assert run.second_signoff == SecondSignoff.MARKED
    assert events("runbook.run.started")[0].changes["second_signoff"] == "marked"

    # An unmarked step closes with one person.
    announce = services.step_sign(actor=operator, step_run=step_run(run, "Announce the window"))
    assert announce.status == StepStatus.DONE
    # The marked one waits for a second person, who must be another approver.
    promote = services.step_sign(actor=operator, step_run=step_run(run, "Promote the build"))
    assert promote.status == StepStatus.AWAITING_SECOND
    signed = events("runbook.step.signed_off")
    assert [(e.changes["step"], e.changes["status"]) for e in signed] == [
        ("Announce the window", "done"),
        ("Promote the build", "awaiting_second"),
    ]
    assert all(e.tier == "production" for e in signed)
    with pytest.raises(PermissionDenied):
        services.step_second_sign(actor=operator, step_run=promote)
    assert not events("runbook.step.second_signed")
    done = services.step_second_sign(actor=approver, step_run=promote, note="diff seen")
    assert (done.status, done.signed_by, done.second_signed_by) == (
        StepStatus.DONE,
        operator,
        approver,
    )
    (second,) = events("runbook.step.second_signed")
    assert second.actor == approver and second.changes["step"] == "Promote the build"
    assert second.environment == prod_env


def test_every_step_needs_a_second_person_by_default(
    marked, prod_env, dev_env, start_run, operator, approver
):
    assert marked.runbook.second_signoff == SecondSignoff.ALL
    run = start_run(marked, prod_env)
    sr = services.step_sign(actor=operator, step_run=step_run(run, "Tell the channel"))
    assert sr.status == StepStatus.AWAITING_SECOND
    (event,) = events("runbook.step.signed_off")
    assert event.changes["status"] == "awaiting_second"
    with pytest.raises(ValidationError, match="still open"):
        services.run_complete(actor=operator, run=run)
    assert not events("runbook.run.completed")
    # Unprotected environments never wait.
    dev_run = start_run(marked, dev_env)
    sr = services.step_sign(actor=operator, step_run=step_run(dev_run, "Promote the build"))
    assert sr.status == StepStatus.DONE


def test_steps_with_commands_setting(marked, prod_env, start_run, operator, approver):
    set_policy(marked, approver, SecondSignoff.COMMANDS)
    run = start_run(marked, prod_env)
    backup = services.step_sign(actor=operator, step_run=step_run(run, "Back up the database"))
    announce = services.step_sign(actor=operator, step_run=step_run(run, "Announce the window"))
    promote = services.step_sign(actor=operator, step_run=step_run(run, "Promote the build"))
    assert [backup.status, announce.status, promote.status] == [
        StepStatus.AWAITING_SECOND,
        StepStatus.DONE,
        StepStatus.AWAITING_SECOND,  # marked steps always wait
    ]
    assert [e.changes["status"] for e in events("runbook.step.signed_off")] == [
        "awaiting_second",
        "done",
        "awaiting_second",
    ]


def test_a_run_keeps_the_setting_it_started_with(marked, prod_env, start_run, operator, approver):
    run = start_run(marked, prod_env)
    set_policy(marked, approver, SecondSignoff.MARKED)
    run.refresh_from_db()
    assert run.second_signoff == SecondSignoff.ALL
    sr = services.step_sign(actor=operator, step_run=step_run(run, "Tell the channel"))
    assert sr.status == StepStatus.AWAITING_SECOND
    assert events("runbook.step.signed_off")[0].changes["status"] == "awaiting_second"


def test_the_setting_is_validated_and_an_approvers(marked, operator, approver):
    with pytest.raises(ValidationError, match="Unknown setting"):
        set_policy(marked, approver, "nobody")
    with pytest.raises(PermissionDenied):
        set_policy(marked, operator, SecondSignoff.MARKED)
    assert Runbook.objects.get().second_signoff == SecondSignoff.ALL
    assert not events("runbook.updated")


def test_a_bad_check_in_the_plan_imports_nothing(operator):
    text = "# T\n\n## Do\n\n- [ ] Import done <!-- ops: check import-job 0 -->\n"
    with pytest.raises(ValidationError, match="Line 5: the check marker: Give the import job id"):
        services.runbook_import(actor=operator, text=text, source_name="bad.md")
    with pytest.raises(ValidationError, match="unknown ops marker"):
        services.runbook_import(actor=operator, text=text.replace("check", "chek"))
    assert not Runbook.objects.exists()
    assert not events("runbook.imported")


def test_sub_steps_keep_their_parent_and_close_first(operator, dev_env, start_run):
    version = services.runbook_import(actor=operator, text=NESTED_PLAN, source_name="n.md")
    parent = Step.objects.get(phase__version=version, title="Parent")
    children = list(Step.objects.filter(phase__version=version, parent=parent))
    assert [(c.title, c.depth) for c in children] == [("Child one", 1), ("Child two", 1)]
    assert Step.objects.get(phase__version=version, title="Other").parent is None

    # A new version (an edited step) keeps the tree, pointing at its own steps.
    v2 = services.step_update(
        actor=operator,
        step=Step.objects.get(phase__version=version, title="Other"),
        title="Other, edited",
        body="",
        required=True,
        requires_second_signoff=False,
    )
    parent2 = Step.objects.get(phase__version=v2, title="Parent")
    assert [c.title for c in parent2.children.order_by("order")] == ["Child one", "Child two"]
    assert all(c.phase.version_id == v2.pk for c in parent2.children.all())

    run = start_run(v2, dev_env)
    with pytest.raises(ValidationError, match="Close its sub-steps first"):
        services.step_sign(actor=operator, step_run=step_run(run, "Parent"))
    assert not events("runbook.step.signed_off")
    services.step_sign(actor=operator, step_run=step_run(run, "Child one"))
    services.step_skip(actor=operator, step_run=step_run(run, "Child two"), reason="not needed")
    parent_run = services.step_sign(actor=operator, step_run=step_run(run, "Parent"))
    assert parent_run.status == StepStatus.DONE
    assert [e.changes["step"] for e in events("runbook.step.signed_off")] == [
        "Child one",
        "Parent",
    ]
    assert [e.changes["step"] for e in events("runbook.step.skipped")] == ["Child two"]


def test_sub_steps_are_shown_indented(client_for, operator, dev_env, start_run):
    version = services.runbook_import(actor=operator, text=NESTED_PLAN, source_name="n.md")
    run = start_run(version, dev_env)
    client, _ = client_for("viewer")
    page = client.get(run.get_absolute_url()).content.decode()
    child = step_run(run, "Child one")
    row = page.split(f'id="step-{child.pk}"', 1)[1].split(">", 1)[0]
    assert "substep ms-1" in row and 'data-depth="1"' in row
    parent = step_run(run, "Parent")
    assert 'data-depth="0"' in page.split(f'id="step-{parent.pk}"', 1)[1].split(">", 1)[0]
    version_page = client.get(version.get_absolute_url()).content.decode()
    assert version_page.count('data-depth="1"') == 2
