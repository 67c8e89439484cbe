"""Audit you can read (issue 18): links from every event, who asked and who approved, a
before → after table that never shows a secret, the grouped action picker, request and job
filters, and the history of an object (``AuditEvent.objects.for_target``)."""

import re

import pytest
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse

from environments import services as env_services
from environments.choices import Tier
from opsportal.audit.diff import FINGERPRINT_CHANGED, readable
from opsportal.audit.forms import ACTIONS_CACHE_KEY, action_choices
from opsportal.audit.links import history_url, references, target_url
from opsportal.audit.masking import masked
from opsportal.audit.middleware import request_context
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import record
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db

OLD_KEY = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
NEW_KEY = "sk_live_" + "9fZ27QpLmN3xRtY8uVwK2sHb"


@pytest.fixture(autouse=True)
def _fresh_action_cache():
    cache.delete(ACTIONS_CACHE_KEY)
    yield
    cache.delete(ACTIONS_CACHE_KEY)


def _record(**kwargs):
    with transaction.atomic():
        return record(**kwargs)


def _section(html: str, testid: str) -> str:
    """The element carrying ``data-testid=testid`` (up to its closing tag), to look inside."""
    start = html.index(f'data-testid="{testid}"')
    tag = html.rfind("<", 0, start)
    name = re.match(r"<(\w+)", html[tag:]).group(1)
    return html[tag : html.index(f"</{name}>", start)]


@pytest.fixture
def people(user_factory):
    return {
        "operator": user_factory("operator", username="olga"),
        "approver": user_factory("approver", username="arno"),
        "viewer": user_factory("viewer", username="vera"),
    }


@pytest.fixture
def prod(people):
    env = EnvironmentFactory(
        project=ProjectFactory(slug="shop", name="shop"), name="prod", tier=Tier.PRODUCTION
    )
    assert env.protected
    return env


def _approved_key(people, prod):
    """olga asks to add STRIPE_SECRET_KEY in prod; arno approves."""
    first = env_services.configvar_save(
        actor=people["operator"], environment=prod, key="STRIPE_SECRET_KEY", value=OLD_KEY
    ).change_request
    env_services.changerequest_approve(actor=people["approver"], change_request=first)


def _approved_rotation(people, prod):
    """olga asks to add STRIPE_SECRET_KEY in prod, then to change it; arno approves both."""
    _approved_key(people, prod)
    cr = env_services.configvar_save(
        actor=people["operator"],
        environment=prod,
        key="STRIPE_SECRET_KEY",
        value=NEW_KEY,
        reason="rotate after the leak drill",
    ).change_request
    with request_context(request_id="req-approve-1"):
        env_services.changerequest_approve(
            actor=people["approver"], change_request=cr, reason="checked with olga"
        )
    return cr


# --- the readable diff ---------------------------------------------------------------------------
def test_a_secret_change_reads_fingerprint_changed_and_never_shows_a_value(people, prod, client):
    cr = _approved_rotation(people, prod)
    event = AuditEvent.objects.filter(action="configvar.updated").latest("seq")
    # the event names the request it applied and its author, with the author's reason
    assert event.changes["change_request"] == cr.pk and event.changes["author"] == "olga"
    assert event.message == "rotate after the leak drill"
    applied = AuditEvent.objects.get(action="changerequest.applied", target_id=str(cr.pk))
    assert applied.changes["author"] == "olga"

    client.force_login(people["viewer"])
    html = client.get(event.get_absolute_url()).content.decode()
    assert OLD_KEY not in html and NEW_KEY not in html
    for secret in (OLD_KEY, NEW_KEY):
        assert secret[-4:] not in _section(html, "event-diff")
        assert secret[-4:] not in _section(html, "event-details")
    diff = _section(html, "event-diff")
    assert FINGERPRINT_CHANGED in diff
    assert event.changes["before"]["fingerprint"] not in diff
    # the raw JSON is folded away, masked as it was recorded
    assert "<details" in html and 'data-testid="event-raw"' in html


@pytest.mark.parametrize(
    "changes, rows, details",
    [
        ({"status": ["ready", "queued"]}, [("status", "ready", "queued", "changed")], []),
        (
            {"allowed_urls": {"before": "", "after": "https://status.example.com"}},
            [("allowed_urls", "—", "https://status.example.com", "added")],
            [],
        ),
        (
            {"step": "Deploy", "fields": {"title": {"before": "a", "after": "b"}}},
            [("fields.title", "a", "b", "changed")],
            [("step", "Deploy")],
        ),
        (
            {"counts": {"created": 2, "updated": 0}, "summary": "change X"},
            [],
            [("counts.created", "2"), ("counts.updated", "0"), ("summary", "change X")],
        ),
        (
            {"token": masked(OLD_KEY)},
            [],
            [("token", "secret (not shown)")],
        ),
        (
            {"password": [masked(OLD_KEY), masked(NEW_KEY)]},
            [("password", "secret", FINGERPRINT_CHANGED, "secret")],
            [],
        ),
        (
            {"url": [masked(OLD_KEY), masked(OLD_KEY)]},
            [("url", "secret, unchanged", "secret, unchanged", "same")],
            [],
        ),
        (
            {
                "op": "update",
                "key": "SITE_URL",
                "before": {"is_secret": False, "value": "https://a.example", "owner": "x"},
                "after": {"is_secret": False, "value": "https://b.example", "owner": "x"},
            },
            [("value", "https://a.example", "https://b.example", "changed")],
            [("op", "update"), ("key", "SITE_URL")],
        ),
        (
            {
                "op": "create",
                "key": "API_TOKEN",
                "before": None,
                "after": {"is_secret": True, "fingerprint": "ab12", "hint": "…7dc1"},
            },
            [("value", "—", "secret set", "secret"), ("is_secret", "—", "yes", "added")],
            [("op", "create"), ("key", "API_TOKEN")],
        ),
    ],
)
def test_readable_shapes(changes, rows, details):
    shown = readable(changes)
    assert [(r.field, r.before, r.after, r.kind) for r in shown.rows] == rows
    assert [(d.field, d.value) for d in shown.details] == details


def test_a_credential_in_a_detail_is_masked_on_the_way_out():
    shown = readable({"note": f"pasted {OLD_KEY} by mistake", "pair": ["a", OLD_KEY]})
    text = repr(shown)
    assert OLD_KEY not in text


# --- who asked, who approved, and links -----------------------------------------------------------
def test_the_approval_names_requester_and_approver_and_links_the_request(people, prod, client):
    cr = _approved_rotation(people, prod)
    client.force_login(people["viewer"])

    approved = AuditEvent.objects.get(action="changerequest.approved", target_id=str(cr.pk))
    html = client.get(approved.get_absolute_url()).content.decode()
    assert "olga" in _section(html, "event-requester")
    assert "arno" in _section(html, "event-approver")
    assert cr.get_absolute_url() in _section(html, "event-target")

    var_event = AuditEvent.objects.filter(action="configvar.updated").latest("seq")
    assert var_event.request_id == "req-approve-1"
    html = client.get(var_event.get_absolute_url()).content.decode()
    assert "olga" in _section(html, "event-requester")
    assert "arno" in _section(html, "event-approver")
    refs = _section(html, "event-references")
    assert f'href="{cr.get_absolute_url()}"' in refs
    # the variable's page and the other events of the same request
    var = prod.variables.get(key="STRIPE_SECRET_KEY")
    assert reverse("environments:configvar_edit", args=[var.pk]) in _section(html, "event-target")
    assert "?request=req-approve-1" in _section(html, "event-request")
    same = _section(html, "same-request")
    assert "changerequest.approved" in same and "changerequest.applied" in same

    # the log links each row's target, and filters by the request
    listed = client.get(reverse("audit:event_list"), {"request": "req-approve-1"})
    actions = {e.action for e in listed.context["events"]}
    assert actions == {"changerequest.approved", "configvar.updated", "changerequest.applied"}
    assert f'href="{cr.get_absolute_url()}"' in _section(listed.content.decode(), "audit-table")


def test_target_links_without_a_query_and_through_the_content_type(people, prod, client):
    client.force_login(people["viewer"])
    assert target_url("environments.environment", prod.pk) == prod.get_absolute_url()
    assert target_url("runbooks.run", "12") == reverse("runbooks:run_detail", args=[12])
    assert target_url("imports.importjob", 3) == reverse("imports:job_detail", args=[3])
    assert target_url("environments.changerequest", "x") is None  # not an id
    assert target_url("nothing.here", 1) is None
    assert references({"change_request": 5, "run": True, "job": "x"})[0].url == reverse(
        "environments:changerequest_detail", args=[5]
    )

    # a project is addressed by its slug: the generic link loads it and redirects
    _record(actor=None, action="project.noted", target=prod.project)
    project_url = target_url("environments.project", prod.project_id)
    assert project_url == reverse("audit:target", args=["environments.project", prod.project_id])
    response = client.get(project_url)
    assert response.status_code == 302 and response.url == prod.project.get_absolute_url()
    # a user leads to their activity
    response = client.get(reverse("audit:target", args=["auth.user", people["operator"].pk]))
    assert response.url == reverse("audit:operator_timeline", args=["olga"])
    # gone, but recorded: its history; never heard of: 404; nonsense ids are no error
    _record(actor=None, action="thing.deleted", target_type="environments.project", target_id=999)
    response = client.get(reverse("audit:target", args=["environments.project", 999]))
    assert response.url == reverse("audit:target_history", args=["environments.project", "999"])
    # nothing recorded about it: not loaded, whatever the model
    other = ProjectFactory(slug="unrecorded")
    for unknown in (998, "x²", other.pk):
        url = reverse("audit:target", args=["environments.project", unknown])
        assert client.get(url).status_code == 404
    history = client.get(reverse("audit:target_history", args=["environments.project", 999]))
    assert history.status_code == 200 and 'data-testid="target-gone"' in history.content.decode()


# --- filters ---------------------------------------------------------------------------------
def test_action_picker_is_grouped_by_area_and_a_typed_prefix_still_filters(people, client):
    for action in ("configvar.updated", "configvar.created", "runbook.run.started"):
        _record(actor=people["operator"], action=action, target_repr=action)
    choices = dict(action_choices())
    assert choices["configvar"] == [
        ("configvar.", "all configvar.*"),
        ("configvar.created", "configvar.created"),
        ("configvar.updated", "configvar.updated"),
    ]
    assert choices["runbook"] == [("runbook.run.started", "runbook.run.started")]

    client.force_login(people["viewer"])
    response = client.get(reverse("audit:event_list"), {"action": "configvar."})
    html = response.content.decode()
    assert '<optgroup label="configvar">' in html and '<optgroup label="runbook">' in html
    assert {e.action for e in response.context["events"]} == {
        "configvar.updated",
        "configvar.created",
    }
    # a prefix nobody recorded yet, typed in the address, filters instead of failing
    response = client.get(reverse("audit:event_list"), {"action": "runbook.run"})
    assert [e.action for e in response.context["events"]] == ["runbook.run.started"]
    assert 'value="runbook.run" selected' in response.content.decode()


def test_filter_by_import_job_and_environment_link(people, prod, client):
    _record(actor=None, action="import.job.completed", target_repr="job 7", job_id=7)
    _record(actor=None, action="import.job.completed", target_repr="job 8", job_id=8)
    client.force_login(people["viewer"])
    response = client.get(reverse("audit:event_list"), {"job": 7})
    assert [e.target_repr for e in response.context["events"]] == ["job 7"]
    assert "import job #7" in _section(response.content.decode(), "audit-scope")


# --- history of an object ------------------------------------------------------------------
def test_history_of_a_variable_follows_its_key_through_delete_and_add(people, user_factory, client):
    env = EnvironmentFactory(name="dev", tier=Tier.DEVELOPMENT)
    admin = user_factory("admin")
    env_services.configvar_save(actor=admin, environment=env, key="SITE_URL", value="https://a.x")
    env_services.configvar_delete(actor=admin, environment=env, key="SITE_URL")
    env_services.configvar_save(actor=admin, environment=env, key="SITE_URL", value="https://b.x")
    env_services.configvar_save(actor=admin, environment=env, key="OTHER", value="1")
    var = env.variables.get(key="SITE_URL")
    history = AuditEvent.objects.for_target(var)
    assert [e.action for e in history.order_by("seq")] == [
        "configvar.created",
        "configvar.deleted",
        "configvar.created",
    ]

    # the variable's page shows it; the history page lists it all
    client.force_login(admin)
    html = client.get(reverse("environments:configvar_edit", args=[var.pk])).content.decode()
    section = _section(html, "history")
    assert section.count("configvar.") == 3 and history_url(var) in section
    page = client.get(history_url(var))
    assert len(page.context["events"]) == 3
    # the environment page links each variable's history and the environment's full log
    html = client.get(env.get_absolute_url()).content.decode()
    assert history_url(var) in html
    assert f"{reverse('audit:event_list')}?environment={env.pk}" in html


def test_history_of_a_runbook_includes_its_versions(people, user_factory, client):
    from runbooks import services as rb_services

    admin = user_factory("admin")
    text = "# Deploy\n\n## Prepare\n\n- [ ] Tell the team\n- [ ] Freeze merges\n"
    version = rb_services.runbook_import(actor=admin, text=text, source_name="deploy.md")
    rb_services.runbook_update(
        actor=admin, runbook=version.runbook, allowed_urls="https://status.example.com"
    )
    history = AuditEvent.objects.for_target(version.runbook)
    assert {e.action for e in history} == {"runbook.imported", "runbook.updated"}
    client.force_login(people["viewer"])
    html = client.get(version.get_absolute_url()).content.decode()
    section = _section(html, "history")
    assert "runbook.imported" in section and "runbook.updated" in section


def test_history_of_a_member_and_viewers_without_audit_access(people, client):
    from imports.models import Member

    member = Member.objects.create(email="siti@example.com", phone="+6281234567890")
    _record(actor=None, action="member.noted", target=member)
    _record(actor=None, action="other.noted", target_type="imports.member", target_id="999999")
    client.force_login(people["viewer"])
    response = client.get(history_url(member))
    assert [e.action for e in response.context["events"]] == ["member.noted"]
    listing = client.get(reverse("imports:member_list")).content.decode()
    assert history_url(member) in listing


def test_the_project_filter_includes_the_projects_own_events(people, user_factory, client):
    admin = user_factory("admin")
    project = env_services.project_create(actor=admin, name="acme.example", slug="acme")
    other = env_services.project_create(actor=admin, name="other.example", slug="other")
    env = EnvironmentFactory(project=project, name="dev")
    EnvironmentFactory(project=other, name="dev")
    _record(actor=admin, action="configvar.updated", target_repr="ACME_KEY", environment=env)
    client.force_login(people["viewer"])
    response = client.get(reverse("audit:event_list"), {"project": "acme"})
    shown = {(e.action, e.target_repr) for e in response.context["events"]}
    assert shown == {("project.created", "acme.example"), ("configvar.updated", "ACME_KEY")}


def test_the_log_says_who_requested_a_change_an_approver_applied(people, prod, client):
    cr = _approved_rotation(people, prod)
    client.force_login(people["viewer"])
    response = client.get(reverse("audit:event_list"), {"environment": prod.pk})
    requested = {e.action: e.requester for e in response.context["events"]}
    assert requested["configvar.updated"] == "olga"
    assert requested["changerequest.approved"] == "olga"
    assert requested["changerequest.created"] == ""  # its actor is the requester
    assert "requested by olga" in _section(response.content.decode(), "audit-table")
    # a withdrawal names no approver
    withdrawn = env_services.configvar_save(
        actor=people["operator"], environment=prod, key="SITE_URL", value="https://x.example"
    ).change_request
    env_services.changerequest_withdraw(actor=people["operator"], change_request=withdrawn)
    event = AuditEvent.objects.get(action="changerequest.withdrawn")
    assert cr.pk != withdrawn.pk
    html = client.get(event.get_absolute_url()).content.decode()
    assert 'data-testid="event-approver"' not in html


def test_a_change_of_a_variables_owner_and_rotation_reads_before_and_after(people, prod, client):
    _approved_key(people, prod)
    cr = env_services.configvar_save(
        actor=people["operator"],
        environment=prod,
        key="STRIPE_SECRET_KEY",
        owner="payments team",
        rotation_period_days=90,
    ).change_request
    env_services.changerequest_approve(actor=people["approver"], change_request=cr)
    event = AuditEvent.objects.filter(action="configvar.updated").latest("seq")
    assert event.changes["fields"] == ["owner", "rotation_period_days"]

    client.force_login(people["viewer"])
    diff = _section(client.get(event.get_absolute_url()).content.decode(), "event-diff")
    assert re.search(r"owner.*?—.*?payments team", diff, re.S)
    assert re.search(r"rotation_period_days.*?90", diff, re.S)
    assert OLD_KEY[-4:] not in diff and FINGERPRINT_CHANGED not in diff
