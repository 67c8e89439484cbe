"""The two-person rule on protected environments (issue 14, item 2): a step that needs a second
sign-off is closed by two people whichever way it closes — signed, skipped, or failed and then
dealt with — and the run does not complete while one of them lacks its second person."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from environments import services as env_services
from opsportal.audit.models import AuditEvent
from runbooks import services
from runbooks.choices import RunStatus, SecondSignoff, StepStatus
from runbooks.models import Step

from .conftest import step_run

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


def events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def two_sign(run, title, first, second):
    services.step_sign(actor=first, step_run=step_run(run, title))
    services.step_second_sign(actor=second, step_run=step_run(run, title))


@pytest.fixture
def other_approver(user_factory):
    return user_factory("approver", username="bob")


def test_a_skip_needs_the_second_person_before_the_run_completes(
    version, prod_env, start_run, operator, approver
):
    run = start_run(version, prod_env)
    for title in ("Announce the window", "Back up the database", "Promote the build"):
        two_sign(run, title, operator, approver)
    sr = services.step_skip(
        actor=operator, step_run=step_run(run, "Smoke test"), reason="covered by canary"
    )
    assert sr.status == StepStatus.AWAITING_SECOND and sr.skip_reason == "covered by canary"
    (asked,) = events("runbook.step.skip_requested")
    assert asked.actor == operator and asked.message == "covered by canary"
    assert asked.changes["status"] == StepStatus.AWAITING_SECOND and asked.tier == "production"
    assert not events("runbook.step.skipped")

    with pytest.raises(ValidationError, match="Smoke test"):
        services.run_complete(actor=operator, run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.IN_PROGRESS and not events("runbook.run.completed")

    done = services.step_second_sign(actor=approver, step_run=sr, note="canary is green")
    assert done.status == StepStatus.SKIPPED
    assert (done.signed_by, done.second_signed_by) == (operator, approver)
    (confirmed,) = events("runbook.step.skip_confirmed")
    assert confirmed.actor == approver and confirmed.changes["skip_reason"] == "covered by canary"
    assert confirmed.changes["first_signer"] == str(operator)

    services.run_complete(actor=operator, run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert events("runbook.run.completed")[0].actor == operator


def test_nobody_confirms_their_own_skip(version, prod_env, start_run, operator, approver):
    run = start_run(version, prod_env)
    sr = services.step_skip(actor=approver, step_run=step_run(run, "Smoke test"), reason="n/a")
    with pytest.raises(PermissionDenied, match="different person"):
        services.step_second_sign(actor=approver, step_run=sr)
    with pytest.raises(PermissionDenied):
        services.step_second_sign(actor=operator, step_run=sr)  # not an approver
    # A second skip or a sign-off on top of the pending skip is refused too.
    with pytest.raises(ValidationError, match="asked to skip"):
        services.step_skip(actor=operator, step_run=sr, reason="again")
    with pytest.raises(ValidationError, match="asked to skip"):
        services.step_sign(actor=operator, step_run=sr)
    assert step_run(run, "Smoke test").status == StepStatus.AWAITING_SECOND
    assert not events("runbook.step.skip_confirmed")


def test_a_failed_optional_step_cannot_be_ignored(
    version, prod_env, start_run, operator, approver, other_approver
):
    step = Step.objects.get(phase__version=version, title="Smoke test")
    v2 = services.step_update(
        actor=operator, step=step, title=step.title, body="", required=False,
        requires_second_signoff=True,
    )  # fmt: skip
    run = start_run(v2, prod_env)
    for title in ("Announce the window", "Back up the database", "Promote the build"):
        two_sign(run, title, operator, approver)
    services.step_fail(actor=operator, step_run=step_run(run, "Smoke test"), note="502s")
    with pytest.raises(ValidationError, match=r"need a second person.*Smoke test"):
        services.run_complete(actor=operator, run=run)
    assert not events("runbook.run.completed")
    # Dealt with by two people (here: a confirmed skip), the run completes.
    services.step_skip(actor=operator, step_run=step_run(run, "Smoke test"), reason="flaky probe")
    services.step_second_sign(actor=other_approver, step_run=step_run(run, "Smoke test"))
    services.run_complete(actor=approver, run=run)
    assert [e.actor for e in events("runbook.run.completed")] == [approver]
    trail = AuditEvent.objects.filter(
        action__startswith="runbook.step.", target_id=str(step_run(run, "Smoke test").pk)
    ).order_by("seq")
    assert [(e.action, e.actor) for e in trail] == [
        ("runbook.step.failed", operator),
        ("runbook.step.skip_requested", operator),
        ("runbook.step.skip_confirmed", other_approver),
    ]


def test_a_skip_can_be_withdrawn_or_declined(
    version, prod_env, start_run, operator, approver, user_factory
):
    run = start_run(version, prod_env)
    sr = services.step_skip(actor=operator, step_run=step_run(run, "Smoke test"), reason="later")
    back = services.step_skip_withdraw(actor=operator, step_run=sr)
    assert back.status == StepStatus.PENDING and back.skip_reason == "" and back.signed_by is None
    (withdrawn,) = events("runbook.step.skip_withdrawn")
    assert withdrawn.actor == operator and withdrawn.changes["proposed_by"] == str(operator)

    sr = services.step_skip(actor=operator, step_run=sr, reason="later, really")
    other_operator = user_factory("operator", username="oscar")
    with pytest.raises(PermissionDenied, match="decline another person's skip"):
        services.step_skip_withdraw(actor=other_operator, step_run=sr)
    declined = services.step_skip_withdraw(actor=approver, step_run=sr, note="run it")
    assert declined.status == StepStatus.PENDING
    assert [e.actor for e in events("runbook.step.skip_withdrawn")] == [operator, approver]
    assert events("runbook.step.skip_withdrawn")[1].message == "run it"
    with pytest.raises(ValidationError, match="no skip waiting"):
        services.step_skip_withdraw(actor=approver, step_run=sr)


def test_an_unprotected_run_skips_at_once(version, dev_env, start_run, operator):
    run = start_run(version, dev_env)
    sr = services.step_skip(actor=operator, step_run=step_run(run, "Smoke test"), reason="n/a")
    assert sr.status == StepStatus.SKIPPED and sr.second_signed_by is None
    assert [e.actor for e in events("runbook.step.skipped")] == [operator]
    assert not events("runbook.step.skip_requested")


def test_protection_added_during_a_run_needs_the_second_person_too(
    version, dev_env, start_run, operator, approver
):
    run = start_run(version, dev_env)
    for sr in run.step_runs.all():
        services.step_sign(actor=operator, step_run=sr)
    assert not run.step_runs.exclude(status=StepStatus.DONE).exists()
    env_services.environment_update(actor=operator, environment=dev_env, protected=True)
    assert events("environment.updated")[0].changes["protected"] == [False, True]
    with pytest.raises(ValidationError, match="need a second person"):
        services.run_complete(actor=operator, run=run)
    # Steps one person closed before protection came can take their second sign-off late.
    for sr in run.step_runs.all():
        services.step_second_sign(actor=approver, step_run=sr)
    assert len(events("runbook.step.second_signed")) == 4
    services.run_complete(actor=operator, run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED


def test_only_an_approver_drops_a_steps_second_signoff(version, operator, approver):
    """Else one person could remove the rule from the plan and start a new run without it."""
    step = Step.objects.get(phase__version=version, title="Promote the build")
    fields = {"title": step.title, "body": "", "required": True}
    v2 = services.step_update(actor=operator, step=step, requires_second_signoff=True, **fields)
    marked = Step.objects.get(phase__version=v2, title="Promote the build")
    with pytest.raises(PermissionDenied, match="second sign-off"):
        services.step_update(actor=operator, step=marked, requires_second_signoff=False, **fields)
    assert len(events("runbook.step.updated")) == 1
    services.step_update(actor=approver, step=marked, requires_second_signoff=False, **fields)
    assert [e.actor for e in events("runbook.step.updated")] == [operator, approver]


def test_marked_steps_only_policy_still_holds_for_marked_steps(
    version, prod_env, start_run, operator, approver
):
    services.runbook_update(
        actor=approver, runbook=version.runbook, allowed_urls="",
        second_signoff=SecondSignoff.MARKED,
    )  # fmt: skip
    step = Step.objects.get(phase__version=version, title="Promote the build")
    v2 = services.step_update(
        actor=operator, step=step, title=step.title, body="", required=False,
        requires_second_signoff=True,
    )  # fmt: skip
    run = start_run(v2, prod_env)
    for sr in run.step_runs.exclude(step__title="Promote the build"):
        assert services.step_sign(actor=operator, step_run=sr).status == StepStatus.DONE
    services.step_skip(actor=operator, step_run=step_run(run, "Promote the build"), reason="x")
    with pytest.raises(ValidationError, match="Promote the build"):
        services.run_complete(actor=operator, run=run)
    services.step_second_sign(actor=approver, step_run=step_run(run, "Promote the build"))
    assert services.run_complete(actor=operator, run=run).status == RunStatus.COMPLETED


def test_the_run_page_offers_confirm_and_withdraw(
    client_for, version, prod_env, start_run, operator
):
    run = start_run(version, prod_env)
    sr = step_run(run, "Smoke test")
    op_client, op_user = client_for("operator")
    url = reverse("runbooks:step_action", args=[sr.pk, "skip"])
    html = op_client.post(url, {"note": "covered elsewhere"}, **HX).content.decode()
    assert 'data-status="awaiting_second"' in html and "Skip asked by" in html
    assert 'data-testid="unskip"' in html and "Withdraw skip" in html
    assert 'data-testid="second-sign"' not in html  # an operator cannot confirm
    ap_client, approver = client_for("approver")
    page = ap_client.get(run.get_absolute_url()).content.decode()
    assert "Confirm skip" in page and "Decline skip" in page
    html = ap_client.post(
        reverse("runbooks:step_action", args=[sr.pk, "second"]), {"note": "agreed"}, **HX
    ).content.decode()
    assert 'data-status="skipped"' in html
    assert f"Second sign-off by <strong>{approver}</strong>" in html
    assert events("runbook.step.skip_requested")[0].actor == op_user
    assert events("runbook.step.skip_confirmed")[0].actor == approver
