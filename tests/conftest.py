"""Fixtures shared by every test package.

- ``user_factory(role)`` / ``client_for(role)``: users and logged-in clients per role.
  (django-axes needs a request on authenticate(); tests log in with force_login.)
- ``postgres_only``: skip unless the default database is PostgreSQL.
- ``shared_dir``: ``../shared`` (fixtures, generators, plans) or a clean skip when absent.
- ``page``: a Playwright page in Debian's chromium, for ``tests/browser``.
"""

import os
import shutil
from pathlib import Path

import pytest
from django.db import connection
from django.db.backends.signals import connection_created

from opsportal.accounts.roles import ensure_roles

from .factories import UserFactory

REPO_ROOT = Path(__file__).resolve().parent.parent


def _allow_audit_truncate(sender, connection, **kwargs):
    """pytest-django resets databases with TRUNCATE, which the audit trigger refuses unless the
    session allows it (audit migration 0009); only the tests' own connections do."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('opsportal.allow_truncate', 'on', false)")


connection_created.connect(_allow_audit_truncate, weak=False)


@pytest.fixture(autouse=True)
def _audit_checkpoints_per_test(request, tmp_path_factory, monkeypatch):
    """Checkpoints a test writes (an audit export writes one) go to a directory of its own, not
    to the project's ``var/`` shared with the development database."""
    from django.conf import settings

    name = f"audit-checkpoints-{abs(hash(request.node.nodeid)):x}"
    monkeypatch.setattr(settings, "AUDIT_CHECKPOINT_DIR", tmp_path_factory.getbasetemp() / name)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: what one test's pages cached (the audit log's
    action picker, for minutes) must not answer for the next one's database."""
    from django.core.cache import cache

    cache.clear()


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _shared_dir() -> Path:
    return Path(os.environ.get("OPSPORTAL_SHARED_DIR", REPO_ROOT.parent / "shared"))


@pytest.fixture
def shared_dir() -> Path:
    path = _shared_dir()
    if not path.is_dir():
        pytest.skip(f"{path} is not present (only in the team's workspace and CI)")
    return path


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def postgres_only(db):
    if not is_postgres():
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")


@pytest.fixture
def roles(db):
    ensure_roles()


@pytest.fixture
def user_factory(roles):
    def make(role: str | None = None, **kwargs):
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def client_for(user_factory, client):
    """``client_for("operator")`` returns (client, user) logged in with that role."""

    def make(role: str, **kwargs):
        from django.test import Client

        user = user_factory(role, **kwargs)
        c = Client()
        c.force_login(user)
        return c, user

    return make


# --- Browser ---------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; Django's ORM is still used
    # synchronously by the test itself.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def login(page, live_server):
    """``login(user)`` logs the browser in through the real login form."""
    from .factories import PASSWORD

    def do_login(user, password: str = PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        return page

    return do_login
