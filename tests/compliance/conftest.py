import pytest

from environments.choices import Tier
from tests.environments.factories import ConfigVarFactory
from tests.factories import EnvironmentFactory, ProjectFactory


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def users(user_factory):
    return {role: user_factory(role) for role in ("viewer", "operator", "approver", "admin")}


@pytest.fixture
def project(db):
    return ProjectFactory(name="acme.app", slug="acme-app")


@pytest.fixture
def dev(project):
    return EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)


@pytest.fixture
def prod(project):
    return EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)


@pytest.fixture
def secrets_dev(dev):
    """Three secrets and one public value in dev."""
    return {
        "STRIPE_SECRET_KEY": ConfigVarFactory(
            environment=dev, key="STRIPE_SECRET_KEY", raw="sk_test_" + "a1B2" * 6
        ),
        "CLERK_SECRET_KEY": ConfigVarFactory(
            environment=dev, key="CLERK_SECRET_KEY", raw="sk_test_" + "c3D4" * 8
        ),
        "SESSION_SECRET": ConfigVarFactory(
            environment=dev, key="SESSION_SECRET", raw="x9Yq2LmN8pRt4VwZ7sKd3FgH"
        ),
        "PUBLIC_URL": ConfigVarFactory(
            environment=dev, key="NEXT_PUBLIC_SITE_URL", raw="https://dev.acme.app"
        ),
    }
