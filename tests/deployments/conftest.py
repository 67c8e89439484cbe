import pytest

from environments.choices import Tier
from tests.factories import EnvironmentFactory, ProjectFactory


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def project(db):
    return ProjectFactory(name="makalah.ai", slug="makalah-ai")


@pytest.fixture
def prod(project):
    return EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION)


@pytest.fixture
def preview(project):
    return EnvironmentFactory(project=project, name="preview", tier=Tier.PREVIEW)


@pytest.fixture
def operator(user_factory):
    return user_factory("operator", username="otto")


@pytest.fixture
def viewer(user_factory):
    return user_factory("viewer", username="vera")
