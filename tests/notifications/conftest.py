"""Fixtures for notification tests: a local webhook receiver, committed service calls, channels.

``receiver`` is a real HTTP server in a thread (``http.server``) on 127.0.0.1 that records every
POST (path, headers, JSON body) and answers from a script: ``receiver.script = [500, 500, 200]``
fails twice, then succeeds (the last status repeats).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import TestCase

from environments.choices import Tier
from tests.factories import EnvironmentFactory, ProjectFactory


def committed():
    """Run on-commit callbacks (and those they register) when the block ends, as a commit
    would: notifications are derived and sent after commit (django-q2 runs inline in tests)."""
    return TestCase.captureOnCommitCallbacks(execute=True)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        server = self.server
        with server.lock:
            status = server.script[min(len(server.posts), len(server.script) - 1)]
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            server.posts.append(
                {"path": self.path, "headers": dict(self.headers), "raw": raw, "json": body}
            )
        payload = b"ok" if status < 300 else b"invalid_payload: try later"
        if status >= 300 and server.echo_path:  # some services quote the URL they were called on
            payload = f"no such hook {self.path}".encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "90")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.posts: list[dict] = []
        self.script = [200]
        self.echo_path = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def hook(self, name: str = "hook") -> str:
        """A webhook URL on this receiver whose path carries a token, as real ones do."""
        return f"{self.url}/services/T0001/B0002/{name}XyZ9aB7cD5eF3gH1jK2lM4nP"

    def bodies(self, path_part: str = "") -> list:
        return [p["json"] for p in self.posts if path_part in p["path"]]


@pytest.fixture
def receiver(settings):
    settings.NOTIFY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _notify_settings(settings):
    # Six users per test: hashing their passwords at full strength is most of a test's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.NOTIFY_ENCRYPTION_KEY = "test-notify-key-0123456789-abcdefghijklmnop"
    settings.PORTAL_BASE_URL = "https://ops.example.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "opsportal <ops@example.test>"


@pytest.fixture
def people(user_factory):
    """Two of each role that decides things, and a viewer; usernames say who they are."""
    return {
        "op": user_factory("operator", username="otto"),
        "op2": user_factory("operator", username="olga"),
        "ap": user_factory("approver", username="anna"),
        "ap2": user_factory("approver", username="april"),
        "viewer": user_factory("viewer", username="vic"),
        "admin": user_factory("admin", username="ada"),
    }


@pytest.fixture
def project(db):
    return ProjectFactory(name="makalah.ai", slug="makalah-ai")


@pytest.fixture
def prod(project):
    return EnvironmentFactory(project=project, name="prod", tier=Tier.PRODUCTION, protected=True)


@pytest.fixture
def dev(project):
    return EnvironmentFactory(project=project, name="dev", tier=Tier.DEVELOPMENT)
