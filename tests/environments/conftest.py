import pytest

from environments.choices import Tier
from tests.factories import EnvironmentFactory, ProjectFactory, ProviderDeploymentFactory


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    # Four users per test: PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project(db):
    return ProjectFactory(name="acme.app", slug="acme-app")


@pytest.fixture
def dev(project):
    env = EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
    ProviderDeploymentFactory(
        environment=env,
        provider="convex",
        identifier="dev:wary-ferret-59",
        url="https://wary-ferret-59.convex.cloud",
    )
    return env


@pytest.fixture
def prod(project):
    env = EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)
    ProviderDeploymentFactory(
        environment=env,
        provider="convex",
        identifier="prod:basic-oriole-337",
        url="https://basic-oriole-337.convex.cloud",
    )
    assert env.protected
    return env


@pytest.fixture
def users(user_factory):
    return {
        "viewer": user_factory("viewer", username="vera"),
        "operator": user_factory("operator", username="otto"),
        "approver": user_factory("approver", username="anna"),
        "approver2": user_factory("approver", username="alex"),
    }
