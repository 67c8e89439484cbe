"""The audit log filters by project and by environment (issue 15: "who changed prod")."""

import pytest
from django.db import transaction
from django.urls import reverse

from environments.choices import Tier
from opsportal.audit.services import record
from tests.factories import EnvironmentFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def event(actor, env, name):
    with transaction.atomic():
        record(actor=actor, action="configvar.updated", target_repr=name, environment=env)


@pytest.fixture
def trail(user_factory):
    operator = user_factory("operator")
    acme, other = ProjectFactory(slug="acme"), ProjectFactory(slug="other")
    prod = EnvironmentFactory(project=acme, name="prod", tier=Tier.PRODUCTION)
    dev = EnvironmentFactory(project=acme, name="dev")
    elsewhere = EnvironmentFactory(project=other, name="prod", tier=Tier.PRODUCTION)
    event(operator, prod, "ACME_PROD_KEY")
    event(operator, dev, "ACME_DEV_KEY")
    event(operator, elsewhere, "OTHER_PROD_KEY")
    event(operator, None, "NO_ENVIRONMENT")
    return prod, dev, elsewhere


def shown(client, query):
    response = client.get(reverse("audit:event_list") + query)
    assert response.status_code == 200
    return {e.target_repr for e in response.context["events"]}


def test_filter_by_project_and_environment(client_for, trail):
    prod, _dev, elsewhere = trail
    client, _user = client_for("viewer")
    assert shown(client, "?project=acme") == {"ACME_PROD_KEY", "ACME_DEV_KEY"}
    assert shown(client, f"?environment={prod.pk}") == {"ACME_PROD_KEY"}
    assert shown(client, f"?environment={elsewhere.pk}") == {"OTHER_PROD_KEY"}
    # combined with AND, like every other filter
    assert shown(client, f"?project=acme&environment={elsewhere.pk}") == set()
    assert shown(client, "?tier=production&project=acme") == {"ACME_PROD_KEY"}


def test_the_export_applies_the_same_filter(client_for, trail):
    prod, _dev, _elsewhere = trail
    client, _user = client_for("viewer")
    response = client.get(reverse("audit:export_csv") + f"?environment={prod.pk}")
    text = b"".join(response.streaming_content).decode()
    assert "ACME_PROD_KEY" in text and "ACME_DEV_KEY" not in text and "OTHER_PROD" not in text
