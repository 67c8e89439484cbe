"""Pages: permissions, the write paths through forms, exports, query counts, the dashboard."""

import csv
import io

import pytest
from django.test import Client
from django.urls import reverse

from environments.choices import ChangeRequestStatus
from environments.models import ChangeRequest, Environment
from opsportal.audit.models import AuditEvent
from tests.factories import EnvironmentFactory, ProjectFactory

from .factories import ConfigVarFactory

pytestmark = pytest.mark.django_db


def login(user):
    c = Client()
    c.force_login(user)
    return c


def write_requests(env, var):
    """(url, data) for every write page of an environment."""
    return [
        (
            reverse("environments:environment_edit", args=[env.pk]),
            {
                "name": env.name,
                "tier": env.tier,
                "protected": "yes" if env.protected else "no",
                "notes": "new notes",
                "reason": "why",
            },
        ),
        (
            reverse("environments:deployment_add", args=[env.pk]),
            {"provider": "vercel", "identifier": "web-app", "reason": "why"},
        ),
        (
            reverse("environments:configvar_create", args=[env.pk]),
            {"key": "NEW_KEY", "value": "v", "secret": "no", "reason": "why"},
        ),
        (
            reverse("environments:configvar_edit", args=[var.pk]),
            {"value": "changed-value", "secret": "auto", "reason": "why"},
        ),
        (
            reverse("environments:configvar_rotate", args=[var.pk]),
            {"new_value": "rotated-0123456789", "reason": "why"},
        ),
        (
            reverse("environments:configvar_delete", args=[var.pk]),
            {"confirm": var.key, "reason": "why"},
        ),
    ]


@pytest.mark.parametrize("index", range(6))
def test_viewer_refused_every_write_page(users, dev, index):
    var = ConfigVarFactory(environment=dev, key="API_SECRET", raw="secret-value-000111")
    url, data = write_requests(dev, var)[index]
    client = login(users["viewer"])
    assert client.get(url).status_code == 403
    assert client.post(url, data).status_code == 403
    assert not AuditEvent.objects.exclude(action__startswith="auth.").exists()


@pytest.mark.parametrize("index", range(6))
def test_operator_writes_unprotected_directly(users, dev, index):
    var = ConfigVarFactory(environment=dev, key="API_SECRET", raw="secret-value-000111")
    url, data = write_requests(dev, var)[index]
    response = login(users["operator"]).post(url, data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert response["Location"] == dev.get_absolute_url()
    assert not ChangeRequest.objects.exists()
    assert AuditEvent.objects.filter(environment_id=dev.pk, actor=users["operator"]).exists()


@pytest.mark.parametrize("index", range(6))
def test_operator_on_protected_creates_change_request(users, prod, index):
    var = ConfigVarFactory(environment=prod, key="API_SECRET", raw="secret-value-000111")
    url, data = write_requests(prod, var)[index]
    client = login(users["operator"])
    no_reason = client.post(url, {**data, "reason": ""})
    assert no_reason.status_code == 200
    assert "give a reason" in no_reason.content.decode()
    response = client.post(url, data)
    cr = ChangeRequest.objects.get()
    assert response["Location"] == cr.get_absolute_url()
    assert list(
        AuditEvent.objects.exclude(action__startswith="auth.").values_list("action", flat=True)
    ) == ["changerequest.created"]


def test_approval_pages(users, prod):
    var = ConfigVarFactory(environment=prod, key="API_SECRET", raw="secret-value-000111")
    url, data = write_requests(prod, var)[3]
    login(users["approver"]).post(url, data)
    cr = ChangeRequest.objects.get()
    own = login(users["approver"])
    page = own.get(cr.get_absolute_url()).content.decode()
    assert 'data-testid="approve"' not in page and "another approver must decide" in page
    decide = reverse("environments:changerequest_decide", args=[cr.pk, "approve"])
    assert own.post(decide).status_code == 403
    assert login(users["operator"]).post(decide).status_code == 403
    other = login(users["approver2"])
    assert 'data-testid="approve"' in other.get(cr.get_absolute_url()).content.decode()
    reject = reverse("environments:changerequest_decide", args=[cr.pk, "reject"])
    other.post(reject, {"reason": ""})
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.PENDING
    # Production: the approver types the environment's name.
    other.post(decide, {"reason": "ok", "confirm": "dev"})
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.PENDING
    assert other.post(decide, {"reason": "ok", "confirm": "prod"}).status_code == 302
    cr.refresh_from_db()
    assert cr.status == ChangeRequestStatus.APPLIED
    assert AuditEvent.objects.filter(
        action="changerequest.applied", actor=users["approver2"]
    ).exists()


def test_import_flow_unprotected(users, dev):
    client = login(users["operator"])
    r = client.post(
        reverse("environments:env_import", args=[dev.pk]),
        {"text": "A=1\nAPI_SECRET=abcdefghijklmnop1234\n"},
    )
    preview = client.get(r["Location"]).content.decode()
    assert "2 added" in preview and "…1234" in preview
    assert not dev.variables.exists()
    r = client.post(r["Location"])
    assert r["Location"] == dev.get_absolute_url()
    assert set(dev.variables.values_list("key", flat=True)) == {"A", "API_SECRET"}
    assert AuditEvent.objects.filter(action="env.import.applied").count() == 1
    # The preview token is single use.
    assert client.post(r["Location"]).status_code in (302, 405)


def test_settings_and_project_forms(users, project):
    client = login(users["operator"])
    r = client.post(
        reverse("environments:environment_create", args=[project.slug]),
        {"name": "production", "tier": "production", "protected": "default"},
    )
    env = Environment.objects.get(name="production")
    assert r["Location"] == env.get_absolute_url() and env.protected
    assert AuditEvent.objects.get(action="environment.created").environment_id == env.pk
    r = client.post(reverse("environments:project_create"), {"name": "new.app"})
    assert r.status_code == 302
    assert AuditEvent.objects.filter(action="project.created").count() == 1
    r = client.post(reverse("environments:project_create"), {"name": "new.app"})
    assert "already exists" in r.content.decode()


def test_exports(users, dev, prod):
    ConfigVarFactory(
        environment=dev,
        key="SECRET_TOKEN",
        raw="tok-abcdefgh-0123",
        required=True,
        description="API token",
        example="tok-…",
    )
    ConfigVarFactory(environment=dev, key="FORMULA", raw="=HYPERLINK(1)", secret=False)
    ConfigVarFactory(environment=prod, key="SECRET_TOKEN", raw="tok-prod-0123456", owner="ops")
    client = login(users["viewer"])
    example = client.get(
        reverse("environments:project_export", args=[dev.project.slug, "env-example"])
    )
    text = example.content.decode()
    assert '# required, secret: API token\nSECRET_TOKEN="tok-…"' in text
    assert "tok-abcdefgh" not in text
    md = client.get(
        reverse("environments:project_export", args=[dev.project.slug, "md"])
    ).content.decode()
    assert "| `SECRET_TOKEN` | yes | yes | tok-… | yes | yes | ops |  |" in md
    assert "| `FORMULA` | no | no |  | yes | missing |" in md
    response = client.get(reverse("environments:project_export", args=[dev.project.slug, "csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["Variable", "Required", "Secret", "Example"]
    assert rows[0][4:6] == ["dev (Development)", "prod (Production)"]
    assert rows[1] == ["FORMULA", "no", "no", "", "yes", "missing", "", ""]


def test_list_pages_query_counts(users, django_assert_max_num_queries):
    for i in range(6):
        project = ProjectFactory()
        for name in ("dev", "prod"):
            env = EnvironmentFactory(project=project, name=name)
            for j in range(5):
                ConfigVarFactory(environment=env, key=f"K{j}", raw=f"v{i}{j}")
    client = login(users["approver"])
    with django_assert_max_num_queries(12):
        assert client.get(reverse("environments:project_list")).status_code == 200
    env = Environment.objects.first()
    with django_assert_max_num_queries(16):
        assert client.get(env.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(16):
        assert client.get(env.project.get_absolute_url()).status_code == 200
    for _ in range(5):
        ChangeRequest.objects.create(
            environment=env, kind="variables", summary="x", author=users["operator"]
        )
    with django_assert_max_num_queries(10):
        r = client.get(reverse("environments:changerequest_list"))
    assert r.content.decode().count('href="/environments/change-requests/') == 5


def test_dashboard_panel(users, dev, prod):
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_test_abcdefgh12345")
    services_cr = ChangeRequest.objects.create(
        environment=prod, kind="variables", summary="fix stripe", author=users["operator"]
    )
    page = login(users["approver"]).get(reverse("dashboard")).content.decode()
    assert "Environments needing attention" in page
    assert "test-mode key" in page
    assert f"#{services_cr.pk}" in page and "fix stripe" in page
    mine = login(users["operator"]).get(reverse("dashboard")).content.decode()
    assert "fix stripe" not in mine


def test_deployment_remove(users, dev, prod):
    client = login(users["operator"])
    dep = dev.deployments.get()
    r = client.post(reverse("environments:deployment_remove", args=[dep.pk]))
    assert r["Location"] == dev.get_absolute_url()
    assert not dev.deployments.exists()
    assert AuditEvent.objects.filter(
        action="environment.deployment.removed", environment_id=dev.pk
    ).exists()
    prod_dep = prod.deployments.get()
    client.post(reverse("environments:deployment_remove", args=[prod_dep.pk]))
    assert prod.deployments.exists() and not ChangeRequest.objects.exists()  # reason required
    r = client.post(
        reverse("environments:deployment_remove", args=[prod_dep.pk]), {"reason": "retired"}
    )
    cr = ChangeRequest.objects.get()
    assert r["Location"] == cr.get_absolute_url() and prod.deployments.exists()
    assert (
        login(users["viewer"])
        .post(reverse("environments:deployment_remove", args=[prod_dep.pk]), {"reason": "x"})
        .status_code
        == 403
    )


def test_compare_page_and_markdown(users, dev, prod):
    ConfigVarFactory(environment=dev, key="ONLY_DEV_SECRET", raw="dev-secret-0123456789ab")
    client = login(users["viewer"])
    url = reverse("environments:project_compare", args=[dev.project.slug])
    page = client.get(url, {"source": dev.pk, "target": prod.pk}).content.decode()
    assert "ONLY_DEV_SECRET" in page and 'data-testid="checklist"' in page
    md = client.get(url, {"source": dev.pk, "target": prod.pk, "format": "md"})
    assert md["Content-Type"].startswith("text/markdown")
    text = md.content.decode()
    assert "- [ ] **set** `ONLY_DEV_SECRET` (secret: take it from the secret manager)" in text
    assert "0123456789ab" not in text


def test_compare_page_says_why_it_shows_no_checklist(users, dev, prod):
    other = EnvironmentFactory(name="elsewhere")
    client = login(users["viewer"])
    url = reverse("environments:project_compare", args=[dev.project.slug])

    def errors(**params) -> str:
        page = client.get(url, params).content.decode()
        assert 'data-testid="checklist"' not in page
        return page.split('data-testid="compare-errors">', 1)[1].split("</div>", 1)[0]

    assert "Pick two different environments" in errors(source=dev.pk, target=dev.pk)
    assert "From: Select a valid choice" in errors(source=other.pk, target=prod.pk)
    assert "To: This field is required." in errors(source=dev.pk, target="")
    page = client.get(url, {"source": dev.pk, "target": prod.pk}).content.decode()
    assert 'data-testid="compare-errors"' not in page and 'data-testid="checklist"' in page


def test_viewer_cannot_import(users, dev):
    client = login(users["viewer"])
    url = reverse("environments:env_import", args=[dev.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"text": "A=1\n"}).status_code == 403
    assert (
        client.post(reverse("environments:env_import_preview", args=[dev.pk, "x"])).status_code
        == 403
    )
    assert not dev.variables.exists()
    assert not AuditEvent.objects.exclude(action__startswith="auth.").exists()


def test_a_new_preview_replaces_the_abandoned_one(users, dev):
    client = login(users["operator"])
    url = reverse("environments:env_import", args=[dev.pk])
    first = client.post(url, {"text": "A=1\n"})["Location"]
    second = client.post(url, {"text": "B=2\n"})["Location"]
    assert client.post(first).status_code == 302  # expired: nothing applied
    assert not dev.variables.exists()
    client.post(second)
    assert list(dev.variables.values_list("key", flat=True)) == ["B"]
    assert AuditEvent.objects.filter(action="env.import.applied").count() == 1


def test_matrix_drift_only_filter(users, dev, prod):
    for env in (dev, prod):
        ConfigVarFactory(environment=env, key="EVERYWHERE", raw=f"{env.name}-value")
    ConfigVarFactory(environment=dev, key="DEV_ONLY", raw="x")
    client = login(users["viewer"])
    url = dev.project.get_absolute_url()
    everything = client.get(url).content.decode()
    assert 'data-key="EVERYWHERE"' in everything and 'data-key="DEV_ONLY"' in everything
    drift_only = client.get(url, {"drift": "1"}).content.decode()
    assert 'data-key="EVERYWHERE"' not in drift_only and 'data-key="DEV_ONLY"' in drift_only
    assert "Drift only 1" in drift_only


def test_environment_page_marks_variables_with_findings(users, dev, prod):
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY", raw="sk_test_abcdefgh12345")
    page = login(users["viewer"]).get(prod.get_absolute_url()).content.decode()
    row = page.split('data-key="STRIPE_SECRET_KEY"', 1)[1].split("</tr>", 1)[0]
    assert "text-bg-danger" in row and "test-mode key" in row
    assert "12345" not in page and "••••2345" in page


@pytest.mark.parametrize("tier", ["dev", "prod"])
def test_new_variable_page_refuses_an_existing_key(users, dev, prod, tier):
    env = {"dev": dev, "prod": prod}[tier]
    var = ConfigVarFactory(
        environment=env, key="STRIPE_SECRET_KEY", raw="sk_test_" + "a" * 24, owner="billing"
    )
    var.required = True
    var.save(update_fields=["required"])
    client = login(users["operator"])
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("environments:configvar_create", args=[env.pk]),
        {"key": "STRIPE_SECRET_KEY", "value": "", "secret": "auto", "reason": "why"},
    )
    assert response.status_code == 200
    assert "STRIPE_SECRET_KEY already exists" in response.content.decode()
    var.refresh_from_db()
    assert (var.required, var.owner, var.hint) == (True, "billing", "…aaaa")
    assert not ChangeRequest.objects.exists()
    assert AuditEvent.objects.count() == events


def test_new_project_without_a_usable_slug_asks_for_one(users):
    from environments.models import Project

    client = login(users["operator"])
    url = reverse("environments:project_create")
    response = client.post(url, {"name": "Проект !!!"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "No URL slug can be made" in body and "needs a name" not in body
    assert not Project.objects.exists()
    response = client.post(url, {"name": "Проект !!!", "slug": "proekt"})
    assert response.status_code == 302
    project = Project.objects.get(slug="proekt")
    assert project.name == "Проект !!!"
    assert AuditEvent.objects.get(action="project.created").target_id == str(project.pk)


def test_environment_page_lists_its_audit_events_without_a_query_per_row(
    users, django_assert_max_num_queries
):
    from django.db import transaction

    from opsportal.audit.services import record

    env = EnvironmentFactory(name="dev")
    for i in range(12):
        with transaction.atomic():
            record(
                actor=users["operator" if i % 2 else "approver"],
                action="configvar.updated",
                target_repr=f"KEY_{i}",
                environment=env,
            )
    client = login(users["viewer"])
    # 16, and 3 for the deployments app's timeline panel (audit events, deployments, runs)
    with django_assert_max_num_queries(19):
        page = client.get(env.get_absolute_url()).content.decode()
    assert "KEY_11" in page
    assert reverse("audit:operator_timeline", args=["otto"]) in page
