"""Settings behaviour at start-up, and the operator management command."""

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from opsportal.audit.middleware import RequestContextFilter, request_context
from opsportal.audit.models import AuditEvent

REPO = Path(__file__).resolve().parents[2]


def _run_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FINGERPRINT_KEY"}}
    clean.update(
        OPSPORTAL_ENV_FILE=str(tmp_path / ".env"),
        DJANGO_SETTINGS_MODULE="opsportal.settings",
        DATABASE_URL="sqlite:///" + str(tmp_path / "db.sqlite3"),
        **env,
    )
    code = (
        "import django; django.setup(); "
        "from django.conf import settings; print(settings.SECRET_KEY)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_generates_keys_once_into_dotenv(tmp_path):
    first = _run_settings(tmp_path, DEBUG="True")
    assert first.returncode == 0, first.stderr
    saved = (tmp_path / ".env").read_text()
    assert "SECRET_KEY=" in saved and "FINGERPRINT_KEY=" in saved
    second = _run_settings(tmp_path, DEBUG="True")
    assert second.stdout == first.stdout  # the same key, kept
    assert (tmp_path / ".env").read_text() == saved


def test_production_refuses_to_start_without_secrets(tmp_path):
    result = _run_settings(tmp_path, DEBUG="False")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / ".env").exists()


def test_production_settings_pass_check_deploy(tmp_path):
    dropped = {"SECRET_KEY", "FINGERPRINT_KEY", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        OPSPORTAL_ENV_FILE=str(tmp_path / ".env"),
        DEBUG="False",
        SECRET_KEY="x" * 20 + "-production-secret-key-that-is-long-enough-0123456789",
        FINGERPRINT_KEY="f" * 64,
        ALLOWED_HOSTS="ops.example.com",
        DATABASE_URL="sqlite:///" + str(tmp_path / "db.sqlite3"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_log_lines_carry_the_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    with request_context(request_id="abc123"):
        RequestContextFilter().filter(record)
    assert record.request_id == "abc123"
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    RequestContextFilter().filter(outside)
    assert outside.request_id == "-"


@pytest.mark.django_db
def test_create_operator_reads_password_from_stdin(monkeypatch, roles):
    from django.contrib.auth import get_user_model

    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase-1\n"))
    out = io.StringIO()
    call_command(
        "create_operator",
        "--username", "dana", "--role", "approver", "--email", "dana@example.com",
        "--password-stdin", stdout=out,
    )  # fmt: skip
    user = get_user_model().objects.get(username="dana")
    assert user.check_password("a-long-enough-passphrase-1")
    assert list(user.groups.values_list("name", flat=True)) == ["approver"]
    event = AuditEvent.objects.get(action="auth.user.created")
    assert event.changes["role"] == "approver"
    assert "passphrase" not in str(event.changes)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["--username", "eve", "--role", "approver"], "short\n", "too short"),
        (["--username", "eve", "--role", "approver"], "\n", "empty password"),
    ],
)
def test_create_operator_rejects_bad_input(monkeypatch, roles, args, stdin, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    with pytest.raises(CommandError, match=message):
        call_command("create_operator", *args, "--password-stdin")
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_create_operator_refuses_duplicates(monkeypatch, user_factory):
    user_factory("viewer", username="frank")
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-passphrase-1\n"))
    with pytest.raises(CommandError, match="already exists"):
        call_command(
            "create_operator", "--username", "Frank", "--role", "viewer", "--password-stdin"
        )
    assert not AuditEvent.objects.filter(action="auth.user.created").exists()


def test_production_collectstatic_succeeds(tmp_path):
    """The manifest storage used with DEBUG=False must resolve every vendored reference."""
    dropped = {"DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DEBUG="False",
        SECRET_KEY="k" * 10 + "-a-production-secret-key-long-enough-0123456789abcdef",
        FINGERPRINT_KEY="f" * 64,
        STATIC_ROOT=str(tmp_path / "static"),
        OPSPORTAL_ENV_FILE=str(tmp_path / ".env"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "static" / "staticfiles.json").exists()
