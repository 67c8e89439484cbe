"""'Waiting for me' per role: what each person must act on, linking to where it is done, gone
once done; the navigation's count and the dashboard agree with the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from environments import services as env_services
from environments.models import ConfigVar
from imports import services as import_services
from imports.models import ReviewItem
from notifications.queue import collect, count
from opsportal.audit.models import AuditEvent
from runbooks import services as rb_services
from tests.imports.factories import CLEAN, apply_file, make_job

from .conftest import committed

pytestmark = pytest.mark.django_db

PLAN = """# Release

## Ship

- [ ] Promote the build
- [ ] Smoke test
- [ ] Announce
"""


def run(people, env, actor):
    version = rb_services.runbook_import(actor=actor, text=PLAN, source_name="release.md")
    now = timezone.now()
    started = rb_services.run_start(
        actor=actor, version=version, environment=env, planned_start=now,
        planned_end=now + timedelta(hours=1),
    )  # fmt: skip
    return started, list(started.step_runs.select_related("step").order_by("step__order"))


@pytest.fixture
def world(people, prod, dev, settings, tmp_path):
    """One of everything that can wait for someone, each made through its service."""
    settings.MEDIA_ROOT = tmp_path / "media"
    op, op2, ap = people["op"], people["op2"], people["ap"]
    w = {}
    with committed():
        w["cr_by_otto"] = env_services.configvar_save(
            actor=op, environment=prod, key="FEATURE_FLAG", value="on", is_secret=False,
            reason="launch",
        ).change_request  # fmt: skip
        w["cr_by_anna"] = env_services.configvar_save(
            actor=ap, environment=prod, key="OTHER_FLAG", value="on", is_secret=False,
            reason="mine",
        ).change_request  # fmt: skip
        w["prod_run"], steps = run(people, prod, op)
        w["signed_by_otto"] = rb_services.step_sign(actor=op, step_run=steps[0], note="done")
        w["signed_by_anna"] = rb_services.step_sign(actor=ap, step_run=steps[1], note="done")
        w["skip_by_otto"] = rb_services.step_skip(actor=op, step_run=steps[2], reason="n/a")
        w["dev_run"], dev_steps = run(people, dev, op)
        w["failed"] = rb_services.step_fail(actor=op2, step_run=dev_steps[0], note="red")
        env_services.configvar_save(
            actor=op, environment=dev, key="SESSION_SECRET", is_secret=True,
            value="a-session-secret-0123456789abcdef", owner="otto@example.com",
            rotation_period_days=30,
        )  # fmt: skip
        w["var"] = ConfigVar.objects.get(environment=dev, key="SESSION_SECRET")
        # 29 days later: due tomorrow (time travel, not a change anyone makes)
        ConfigVar.objects.filter(pk=w["var"].pk).update(
            last_rotated_at=timezone.now() - timedelta(days=29)
        )
        apply_file(op, CLEAN / "users.csv")
        w["orders"] = apply_file(op, CLEAN / "orders.csv")  # leaves commission reviews
        w["ready"] = make_job(op, CLEAN / "products.csv")
    for action in ("changerequest.created", "runbook.step.signed_off", "runbook.step.failed",
                   "configvar.created",
                   "runbook.step.skip_requested", "import.job.validated",
                   "import.job.completed"):  # fmt: skip
        assert AuditEvent.objects.filter(action=action).exists(), action
    return w


def kinds(user) -> list[tuple[str, str]]:
    return sorted((i.kind, i.url) for i in collect(user))


def test_each_role_sees_what_it_must_act_on(people, world):
    w = world
    run_url = w["prod_run"].get_absolute_url()
    review = ("Review items", "/imports/reviews/?kind=commission_setting")
    assert kinds(people["ap"]) == sorted([
        ("Change request", w["cr_by_otto"].get_absolute_url()),  # not her own request
        ("Second sign-off", f"{run_url}#step-{w['signed_by_otto'].pk}"),  # not her own step
        ("Skip to confirm", f"{run_url}#step-{w['skip_by_otto'].pk}"),
        review,
    ])  # fmt: skip
    rotate = f"/environments/variables/{w['var'].pk}/rotate/"
    assert kinds(people["op"]) == sorted([
        ("Import to confirm", w["ready"].get_absolute_url()),  # his own job, previewed
        ("Step failed", f"{w['dev_run'].get_absolute_url()}#step-{w['failed'].pk}"),
        ("Rotation due", rotate),  # owner named by e-mail, due tomorrow
    ])  # fmt: skip
    assert kinds(people["op2"]) == []  # olga started nothing, owns nothing, approves nothing
    assert kinds(people["viewer"]) == []
    admin = {k for k, _ in kinds(people["admin"])}
    # Admins also review everyone's access; no review has been done yet, so one is due.
    assert admin == {
        "Change request", "Second sign-off", "Skip to confirm", "Review items", "Access review"
    }  # fmt: skip
    assert len(collect(people["ap2"])) == 6  # april may also decide anna's request and step
    for user in people.values():
        assert count(user) == len(collect(user))


def test_each_entry_leaves_the_queue_once_done(people, world):
    w, op, ap, ap2 = world, people["op"], people["ap"], people["ap2"]
    with committed():
        env_services.changerequest_approve(
            actor=ap2, change_request=w["cr_by_otto"], reason="checked"
        )
        rb_services.step_second_sign(actor=ap2, step_run=w["signed_by_otto"], note="seen")
        rb_services.step_second_sign(actor=ap2, step_run=w["skip_by_otto"], note="agreed")
        import_services.job_confirm(actor=op, job=w["ready"])
        rb_services.step_sign(actor=op, step_run=w["failed"], note="fixed and re-run")
        env_services.configvar_rotate(
            actor=op, configvar=w["var"], new_value="a-brand-new-session-secret-9f8e7d6c5b4a"
        )
    done = ["changerequest.applied", "runbook.step.second_signed",
            "runbook.step.skip_confirmed", "import.job.completed", "configvar.rotated"]  # fmt: skip
    for action in done:
        assert AuditEvent.objects.filter(action=action).exists(), action
    # the product settings otto confirmed also settled the commissions waiting for them
    assert not ReviewItem.objects.open().exists()
    assert kinds(ap) == []
    assert kinds(op) == []


def test_the_page_the_count_and_the_dashboard_agree(people, world):
    client = Client()
    client.force_login(people["ap"])
    page = client.get("/notifications/waiting/").content.decode()
    assert page.count('data-testid="waiting-item"') == 4
    assert world["cr_by_otto"].get_absolute_url() in page
    badge = client.get("/notifications/waiting/count/").content.decode()
    assert 'data-count="4"' in badge
    dashboard = client.get("/").content.decode()
    # the queue leads the dashboard, before every other panel (htmx fills it in on load)
    assert dashboard.index("dashboard-queue-slot") < dashboard.index("environments-panel")
    assert 'hx-get="/notifications/waiting/panel/"' in dashboard
    panel = client.get("/notifications/waiting/panel/").content.decode()
    assert 'data-testid="dashboard-queue"' in panel
    assert panel.count('data-testid="waiting-item"') == 4
    # the navigation loads the count without adding to the page's own queries
    assert 'hx-get="/notifications/waiting/count/"' in page

    quiet = Client()
    quiet.force_login(people["op2"])
    assert 'data-count="0"' in quiet.get("/notifications/waiting/count/").content.decode()
    assert "Nothing is waiting for you." in quiet.get("/notifications/waiting/").content.decode()
    assert quiet.get("/notifications/waiting/panel/").content == b""  # no empty card


def test_the_count_costs_the_same_however_much_waits(people, world, prod):
    client = Client()
    client.force_login(people["ap"])
    client.get("/notifications/waiting/count/")  # warm the session
    with CaptureQueriesContext(connection) as small:
        client.get("/notifications/waiting/count/")
    with committed():
        for n in range(6):
            env_services.configvar_save(
                actor=people["op"], environment=prod, key=f"MORE_FLAG_{n}", value="on",
                is_secret=False, reason="more",
            )  # fmt: skip
    assert AuditEvent.objects.filter(action="changerequest.created").count() == 8
    with CaptureQueriesContext(connection) as grown:
        response = client.get("/notifications/waiting/count/")
    assert 'data-count="10"' in response.content.decode()
    assert len(grown) == len(small) <= 12


def test_the_fragments_answer_empty_once_the_session_has_ended(client, people, world):
    for url in ("/notifications/waiting/count/", "/notifications/waiting/panel/"):
        response = client.get(url)  # anonymous: not the login page swapped into the navigation
        assert (response.status_code, response.content) == (200, b"")
    assert client.get("/notifications/waiting/").status_code == 302  # the page itself: login
