"""Global search (/search/?q=): each app's providers, permissions, bounds."""

import ast
import logging
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from imports.models import Member, Order, Product
from opsportal import search
from opsportal.audit.services import record
from runbooks import services as runbook_services
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db

PLAN = "# Rotate Stripe keys\n\n## Do\n\n- [ ] Rotate the key\n- [ ] Check the webhook\n"


@pytest.fixture
def data(user_factory):
    """A little of everything search finds; read-only rows made directly, writes via services."""
    admin = user_factory("admin", username="root")
    project = ProjectFactory(name="Makalah AI", slug="makalah-ai")
    prod = EnvironmentFactory(project=project, name="prod", tier="production")
    ConfigVarFactory(environment=prod, key="STRIPE_SECRET_KEY")
    version = runbook_services.runbook_import(actor=admin, text=PLAN, source_name="stripe.md")
    product = Product.objects.create(name="Kelas Online", price=Decimal("150000"))
    member = Member.objects.create(
        email="siti@example.com", phone="+6285312345678", name="Siti Aminah"
    )
    Order.objects.create(
        inv="4711", member=member, product=product, quantity=1,
        total=Decimal("1500000.00"), status="completed",
    )  # fmt: skip
    record(actor=admin, action="configvar.updated", target_type="configvar", target_id="9",
           target_repr="makalah-ai/prod STRIPE_WEBHOOK_SECRET")  # fmt: skip
    return {"admin": admin, "project": project, "prod": prod, "version": version, "member": member}


def titles(groups, key):
    return [hit.title for group in groups if group.key == key for hit in group.hits]


def test_every_group_finds_its_kind(data):
    admin = data["admin"]
    assert titles(search.search(admin, "makalah"), "projects") == ["Makalah AI"]
    assert titles(search.search(admin, "prod"), "environments") == ["Makalah AI / prod"]
    assert titles(search.search(admin, "stripe_secret"), "variables") == ["STRIPE_SECRET_KEY"]
    assert titles(search.search(admin, "rotate stripe"), "runbooks") == ["Rotate Stripe keys"]
    run_titles = titles(search.search(admin, "stripe"), "runs")
    assert run_titles == []  # no run yet
    assert titles(search.search(admin, "siti@"), "members") == ["Siti Aminah"]
    assert titles(search.search(admin, "aminah"), "members") == ["Siti Aminah"]
    assert titles(search.search(admin, "INV 4711"), "orders") == ["INV 4711"]
    assert titles(search.search(admin, "4711"), "orders") == ["INV 4711"]
    assert titles(search.search(admin, "webhook_secret"), "audit") == [
        "makalah-ai/prod STRIPE_WEBHOOK_SECRET"
    ]


@pytest.mark.parametrize(
    "typed", ["085312345678", "+62 853-1234-5678", "6285312345678", "0853-1234", "+6285312"]
)
def test_a_phone_is_found_however_it_is_written_as_imports_normalise_it(data, typed):
    assert titles(search.search(data["admin"], typed), "members") == ["Siti Aminah"]


def test_runs_by_number_and_by_runbook_title(data, user_factory):
    from django.utils import timezone

    admin = data["admin"]
    now = timezone.now()
    run = runbook_services.run_start(
        actor=admin, version=data["version"], environment=EnvironmentFactory(tier="development"),
        planned_start=now, planned_end=now + timezone.timedelta(hours=1),
    )  # fmt: skip
    assert titles(search.search(admin, f"#{run.pk}"), "runs") == [
        f"Run #{run.pk}: Rotate Stripe keys v1"
    ]
    assert titles(search.search(admin, "rotate"), "runs") == [
        f"Run #{run.pk}: Rotate Stripe keys v1"
    ]


def test_money_in_an_order_hit_is_rupiah(data):
    (group,) = [g for g in search.search(data["admin"], "4711") if g.key == "orders"]
    assert "Rp 1.500.000" in group.hits[0].detail


def test_members_and_orders_only_for_those_who_may_see_them(data, user_factory):
    nobody = user_factory()  # signed in, no role
    assert search.search(nobody, "siti@example.com") == []
    assert search.search(nobody, "4711") == []
    assert search.search(nobody, "makalah") == []

    envs_only = user_factory()
    for codename in ("view_project", "view_environment", "view_configvar"):
        envs_only.user_permissions.add(Permission.objects.get(codename=codename))
    envs_only = type(envs_only).objects.get(pk=envs_only.pk)  # fresh permission cache
    keys = {g.key for g in search.search(envs_only, "makalah")}
    assert keys == {"projects", "environments"}
    assert search.search(envs_only, "siti@example.com") == []

    viewer = user_factory("viewer")
    assert titles(search.search(viewer, "siti@example.com"), "members") == ["Siti Aminah"]
    assert titles(search.search(viewer, "4711"), "orders") == ["INV 4711"]


def test_a_group_the_user_may_not_see_is_not_even_queried(data, user_factory):
    nobody = user_factory()
    with CaptureQueriesContext(connection) as queries:
        search.search(nobody, "siti@example.com")
    assert not [q for q in queries if "imports_" in q["sql"]]


def test_short_or_empty_queries_search_nothing(data):
    admin = data["admin"]
    assert search.search(admin, "") == []
    assert search.search(admin, " m ") == []
    with CaptureQueriesContext(connection) as queries:
        groups = search.search(admin, "zz")  # two letters: small tables only, no trigram scan
    scans = ('FROM "imports_member"', 'FROM "audit_auditevent"')
    assert not [q for q in queries if any(table in q["sql"] for table in scans)]
    assert groups == []


def test_each_provider_is_one_bounded_query(data):
    admin = data["admin"]
    admin = type(admin).objects.get(pk=admin.pk)
    admin.has_perm("x.y")  # permission cache warm: what is left is the providers' queries
    with CaptureQueriesContext(connection) as queries:
        search.search(admin, "stripe")
    assert len(queries) <= len(search.providers())
    assert all("LIMIT" in q["sql"] for q in queries), [q["sql"] for q in queries]


def test_the_ground_floor_imports_no_domain_app():
    source = Path(search.__file__).read_text()
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
    assert not modules & {"environments", "runbooks", "imports", "deployments", "notifications"}


def test_search_page_and_its_htmx_fragment(data, client):
    client.force_login(data["admin"])
    url = reverse("search")
    page = client.get(url, {"q": "stripe"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "<nav" in body and "Variable keys" in body and "STRIPE_SECRET_KEY" in body
    assert 'class="search-hit"' in body
    fragment = client.get(url, {"q": "stripe"}, HTTP_HX_REQUEST="true")
    assert (
        "<nav" not in fragment.content.decode() and "STRIPE_SECRET_KEY" in fragment.content.decode()
    )
    nothing = client.get(url, {"q": "no-such-thing-anywhere"})
    assert "Nothing found" in nothing.content.decode()
    hint = client.get(url)
    assert 'data-testid="search-hint"' in hint.content.decode()


def test_the_navigation_has_the_search_box_and_its_script(data, client):
    client.force_login(data["admin"])
    body = client.get(reverse("dashboard")).content.decode()
    assert 'data-testid="nav-search"' in body
    assert "js/search.js" in body


def test_search_needs_a_login(client, db):
    response = client.get(reverse("search"), {"q": "stripe"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_nul_byte_or_an_overlong_query_is_no_error(data, client, caplog):
    client.force_login(data["admin"])
    with caplog.at_level(logging.ERROR):
        assert client.get(reverse("search"), {"q": "a" * 5000}).status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
