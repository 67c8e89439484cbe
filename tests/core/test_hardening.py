"""Smaller hardening items of issue 14 (item 6): the HTTPS redirect spares /healthz, a
Content-Security-Policy with no inline script anywhere, the client's address from a configured
number of trusted proxies (lockouts count per username + real client), the generated .env
readable by its owner only, and 400s instead of 500s for NUL bytes in a query."""

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from opsportal.audit.models import AuditEvent
from opsportal.security import client_ip

from ..factories import PASSWORD

REPO = Path(__file__).resolve().parents[2]


def _production(tmp_path, code: str, **extra) -> subprocess.CompletedProcess:
    dropped = {"SECRET_KEY", "FINGERPRINT_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        OPSPORTAL_ENV_FILE=str(tmp_path / ".env"),
        DJANGO_SETTINGS_MODULE="opsportal.settings",
        DEBUG="False",
        SECRET_KEY="x" * 20 + "-production-secret-key-that-is-long-enough-0123456789",
        FINGERPRINT_KEY="f" * 64,
        ALLOWED_HOSTS="testserver",
        DATABASE_URL="sqlite:///" + str(tmp_path / "db.sqlite3"),
        **extra,
    )
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_healthz_is_not_redirected_to_https_in_production(tmp_path):
    """A load balancer checks the backend port over plain HTTP: it must get its answer."""
    result = _production(
        tmp_path,
        "from django.test import Client; c = Client(); "
        "h = c.get('/healthz'); r = c.get('/accounts/login/'); "
        "print(h.status_code, r.status_code, r.get('Location'))",
    )
    assert result.returncode == 0, result.stderr
    healthz, login, location = result.stdout.split()
    assert healthz == "200"  # answered (no migrations here: the roles read "unknown")
    assert (login, location) == ("301", "https://testserver/accounts/login/")


def test_the_generated_env_file_is_readable_by_its_owner_only(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# kept from before\n")
    env_file.chmod(0o644)  # as an earlier version left it
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FINGERPRINT_KEY"}}
    clean.update(OPSPORTAL_ENV_FILE=str(env_file), DEBUG="True",
                 DATABASE_URL="sqlite:///" + str(tmp_path / "db.sqlite3"))  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", "import opsportal.settings"],
        cwd=REPO, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "SECRET_KEY=" in env_file.read_text()

    fresh = tmp_path / "fresh" / ".env"
    fresh.parent.mkdir()
    old_umask = os.umask(0o022)
    try:
        clean["OPSPORTAL_ENV_FILE"] = str(fresh)
        subprocess.run([sys.executable, "-c", "import opsportal.settings"], cwd=REPO, env=clean,
                       check=True, capture_output=True, timeout=60)  # fmt: skip
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


# --- Content-Security-Policy ---------------------------------------------------------------------
@pytest.mark.django_db
def test_every_page_carries_a_policy_without_inline_script(client_for):
    client, _ = client_for("operator")
    for path in ("/", "/accounts/login/", "/imports/", "/admin/login/"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert "unsafe" not in directives["default-src"]
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"


def _template_dirs() -> list[Path]:
    """Every installed app of this repository (an app added later is checked without a change
    here): the ``opsportal`` folder holds the project's templates and its own apps'."""
    from django.apps import apps

    paths = {Path(config.path) for config in apps.get_app_configs()}
    return sorted(
        p for p in paths if p.is_relative_to(REPO) and ".venv" not in p.relative_to(REPO).parts
    )


INLINE_SCRIPT = re.compile(
    r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I
)
EVENT_ATTRIBUTE = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def test_no_template_has_an_inline_script_or_event_attribute():
    folders = _template_dirs()
    names = {folder.name for folder in folders}
    assert {"opsportal", "compliance", "deployments", "mailings", "sejolisync"} <= names
    files = sorted({path for folder in folders for path in folder.rglob("*.html")})
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, EVENT_ATTRIBUTE, re.compile(r"javascript:", re.I)):
            found += [
                f"{path.relative_to(REPO)}: {m.group(0)[:60]}" for m in pattern.finditer(text)
            ]
    assert found == [] and len(files) > 100


@pytest.mark.django_db
def test_a_settled_job_reloads_its_page_through_htmx_not_a_script(client_for):
    from imports.models import ImportJob

    client, op = client_for("operator")
    job = ImportJob.objects.create(kind="users", status="completed", original_name="u.csv",
                                   sha256="0" * 64, created_by=op)  # fmt: skip
    response = client.get(job.get_absolute_url() + "?part=progress", HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"
    assert b"<script" not in response.content
    job.status = "running"
    job.save(update_fields=["status"])
    response = client.get(job.get_absolute_url() + "?part=progress", HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in response


# --- the client's address behind proxies -------------------------------------------------------
def _request(remote: str, forwarded: str = ""):
    meta = {"REMOTE_ADDR": remote}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **meta)


def test_the_client_address_is_read_through_the_trusted_proxies_only(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip(_request("10.0.0.2", "203.0.113.9")) == "10.0.0.2"  # header not believed
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(_request("10.0.0.2", "203.0.113.9")) == "203.0.113.9"
    # what the client wrote itself (left of what the proxy appended) is ignored
    assert client_ip(_request("10.0.0.2", "198.51.100.1, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(_request("10.0.0.2", "garbage")) == "10.0.0.2"
    assert client_ip(_request("10.0.0.2")) == "10.0.0.2"  # not through the proxy
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_ip(_request("10.0.0.3", "1.2.3.4, 203.0.113.9, 10.0.0.2")) == "203.0.113.9"
    assert client_ip(_request("10.0.0.3", "[2001:db8::7]:443, 10.0.0.2")) == "2001:db8::7"


@pytest.mark.django_db
def test_behind_a_proxy_one_client_failing_does_not_lock_the_others_out(user_factory, settings):
    """Five bad passwords from one address lock that address out for that name, not every
    user of the proxy (the admin included); the audit trail names the real client."""
    settings.TRUSTED_PROXY_COUNT = 1
    admin_user = user_factory("admin", username="ada")
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.66")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(reverse("login"), {"username": "ada", "password": "nope"})
    response = attacker.post(reverse("login"), {"username": "ada", "password": PASSWORD})
    assert response.status_code == 429
    colleague = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7")
    response = colleague.post(reverse("login"), {"username": "ada", "password": PASSWORD})
    assert response.status_code == 302
    succeeded = AuditEvent.objects.get(action="auth.login.succeeded", actor=admin_user)
    assert succeeded.ip == "198.51.100.7"
    failed = AuditEvent.objects.filter(action="auth.login.failed")
    assert set(failed.values_list("ip", flat=True)) == {"203.0.113.66"}
    from axes.models import AccessAttempt

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.66"}


# --- bad query strings ------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("url_name", ["imports:member_list", "imports:order_list"])
def test_a_nul_byte_in_a_search_is_a_400_with_a_message(client_for, url_name):
    client, _ = client_for("viewer")
    response = client.get(reverse(url_name) + "?q=%00")
    assert response.status_code == 400
    assert "NUL byte" in response.content.decode()
    assert client.get(reverse(url_name) + "?q=a%00b").status_code == 400
    assert client.get(reverse(url_name) + "?q=ok").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/environments/acme%00/prod/import",
        "/api/projects/acme%00",
        "/hooks/sejoli/tok%00en/",
        "/mailings/unsubscribe/tok%00en/",
    ],
)
def test_a_nul_byte_in_the_path_is_a_400_with_a_message(client_for, path):
    """A path part (a slug, a token) reaches a query too: PostgreSQL refuses a NUL in any text."""
    client, _ = client_for("admin")
    for response in (client.get(path), client.post(path, "{}", content_type="application/json")):
        assert response.status_code == 400
        assert "NUL byte" in response.content.decode()


@pytest.mark.django_db
def test_a_nul_byte_in_a_posted_form_is_a_400_with_a_message(client_for):
    """A reason read straight from the form (a campaign's cancel) never reaches PostgreSQL."""
    from mailings import services as mailings
    from mailings.models import Campaign

    client, admin_user = client_for("admin")
    campaign = mailings.campaign_create(
        actor=admin_user, name="Welcome", subject_template="Hi", body_template="Body"
    )
    cancel = f"/mailings/{campaign.pk}/cancel/"
    for response in (
        client.post(cancel, {"reason": "stop\x00now"}),  # multipart, as the test client posts
        client.post(cancel, "reason=stop%00now", content_type="application/x-www-form-urlencoded"),
    ):
        assert response.status_code == 400
        assert "NUL byte" in response.content.decode()
    assert Campaign.objects.get(pk=campaign.pk).status == campaign.status
    assert not AuditEvent.objects.filter(action="mailing.campaign.cancelled").exists()
    response = client.post(f"/mailings/{campaign.pk}/cancel/", {"reason": "not needed"})
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action="mailing.campaign.cancelled").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("parent", "status"), [("\u00b2", 404), ("-1", 404), ("1\x00", 400)])
def test_an_upload_naming_a_parent_job_that_is_not_a_number_is_refused(client_for, parent, status):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from imports.models import ImportJob

    client, _ = client_for("operator")
    response = client.post(
        reverse("imports:job_upload"),
        {"parent": parent, "file": SimpleUploadedFile("u.csv", b"a,b\n1,2\n"), "kind": "auto"},
    )
    assert response.status_code == status
    assert not ImportJob.objects.exists()


def _pages_without_arguments() -> list[str]:
    """The path of every URL pattern that takes no argument (the admin and static files aside)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns, prefix):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern)

    paths = set()
    for route in walk(get_resolver().url_patterns, ""):
        if "<" in route or "(?P" in route or route.startswith(("admin", "static")):
            continue
        if "logout" in route:
            continue
        paths.add("/" + route.lstrip("^").replace("\\Z", "").rstrip("$"))
    return sorted(paths)


@pytest.mark.django_db
def test_no_page_answers_a_hostile_query_string_with_a_500(client_for):
    """Every page (new apps' included) as an admin, with a NUL byte, a superscript or an
    Arabic-Indic digit where a number goes, and a cursor of the wrong shape."""
    client, _ = client_for("admin")
    client.raise_request_exception = False
    paths = _pages_without_arguments()
    assert {"/", "/imports/members/", "/deployments/", "/notifications/deliveries/"} <= set(paths)
    queries = [
        "q=%00", "page=%C2%B2", "page=%D9%A3", "page=99999999999999999999", "product=%C2%B2",
        "cursor=2026-01-01T00:00:00~deploy~%C2%B2", "environment=%C2%B2", "status=%00",
    ]  # fmt: skip
    failed = []
    for path in paths:
        for query in queries:
            status = client.get(f"{path}?{query}").status_code
            if status >= 500 or (query.endswith("%00") and status not in (400, 404, 405)):
                failed.append((path, query, status))
    assert failed == []
