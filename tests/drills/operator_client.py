"""A small browser stand-in for the operator drills: gunicorn start/stop and an HTTP client.

The client speaks to gunicorn with ``http.client`` the way a browser behind the production TLS
proxy does: it keeps its own cookies (the session and CSRF cookies are ``Secure``), sends
``X-Forwarded-Proto: https`` with a matching ``Origin`` and ``Referer``, posts the CSRF token of
the form it read, follows a redirect to read the flash message, and tags every request with an
``X-Request-ID`` so the audit events it caused can be found again.
"""

from __future__ import annotations

import html
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
ALERT = re.compile(
    r'<div class="alert alert-(\w+)[^"]*"[^>]*role="alert"[^>]*>\s*(.*?)\s*(?:<button|</div>)',
    re.S,
)
STEP_ERROR = re.compile(r'data-testid="step-error">(.*?)</div>', re.S)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_env(settings_dict: dict, *, application_name: str) -> dict[str, str]:
    """DATABASE_URL of the database the test process uses; the subprocess's connections carry
    ``application_name`` so they can be told apart in ``pg_stat_activity``."""
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    url = f"postgres://{settings_dict['USER']}@{host}:{port}/{settings_dict['NAME']}"
    env = {"DATABASE_URL": f"{url}?application_name={application_name}"}
    if settings_dict.get("PASSWORD"):
        env["PGPASSWORD"] = settings_dict["PASSWORD"]
    return env


class Server:
    """gunicorn serving the portal with its production settings (DEBUG off, manifest statics)."""

    def __init__(self, *, root: Path, env: dict[str, str], workers: int, log: Path):
        self.root, self.env, self.workers, self.log = root, env, workers, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def collectstatic(self) -> None:
        """DEBUG off serves hashed static names from the manifest: build it as a deploy does."""
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=self.root, env=self.env, check=True, timeout=120,
        )  # fmt: skip

    def start(self, *, deadline_s: float = 30.0) -> None:
        with self.log.open("wb") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "opsportal.wsgi",
                 "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                 "--worker-class", "sync", "--timeout", "60", "--graceful-timeout", "5",
                 "--log-level", "warning"],
                cwd=self.root, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killed as one in stop()
            )  # fmt: skip
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/accounts/login/", headers=self.base_headers())
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn not ready after {deadline_s}s:\n{self.tail()}")

    def base_headers(self) -> dict[str, str]:
        return {"Host": f"127.0.0.1:{self.port}", "X-Forwarded-Proto": "https"}

    def stop(self) -> None:
        """SIGTERM the process group (master and workers), SIGKILL what is left."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 15)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait)
                # workers can outlive the master for a moment: make sure the group is gone
                os.killpg(self.proc.pid, 0)
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
            time.sleep(0.2)

    def tail(self, lines: int | None = 60) -> str:
        """The last ``lines`` of gunicorn's output (None: all of it)."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:] if lines else text.splitlines())


@dataclass
class Hit:
    """One HTTP request: who, what, the answer and how long it took."""

    user: str
    label: str
    method: str
    path: str
    status: int
    ms: float
    request_id: str


@dataclass
class Outcome:
    """One user action as the user saw it: ``ok`` or refused with the message shown."""

    user: str
    action: str
    target: int
    ok: bool
    message: str
    request_id: str
    status: int


@dataclass
class Recorder:
    hits: list[Hit] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, h: Hit) -> None:
        with self.lock:
            self.hits.append(h)

    def outcome(self, o: Outcome) -> Outcome:
        with self.lock:
            self.outcomes.append(o)
        return o

    def of(self, action: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.action == action]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str
    request_id: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


def _multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = f"----drill{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        )
    # an empty file input, as a browser sends it when no file was chosen
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="evidence_file"; filename=""\r\n'
        "Content-Type: application/octet-stream\r\n\r\n\r\n"
    )
    parts.append(f"--{boundary}--\r\n")
    return "".join(parts).encode(), f"multipart/form-data; boundary={boundary}"


class PortalClient:
    """One person's browser: its cookies, its connection, its request ids."""

    def __init__(self, server: Server, username: str, recorder: Recorder):
        self.server, self.username, self.recorder = server, username, recorder
        self.origin = f"https://127.0.0.1:{server.port}"
        self.cookies: dict[str, str] = {}
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.counter = 0
        self.page = "/"

    def close(self) -> None:
        self.conn.close()

    # --- transport ---------------------------------------------------------------------------
    def request(self, method: str, path: str, *, label: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> Response:  # fmt: skip
        self.counter += 1
        request_id = f"{self.username}.{self.counter}"
        hdrs = {
            **self.server.base_headers(),
            "User-Agent": f"operator-drill ({self.username})",
            "X-Request-ID": request_id,
            "Accept": "text/html",
        }
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        hdrs.update(headers or {})
        started = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # a keep-alive socket the sync worker already closed: reconnect once
                self.conn.close()
                if attempt == 2 or method != "GET":
                    raise
        ms = (time.perf_counter() - started) * 1000
        for raw in resp.msg.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
        self.recorder.hit(Hit(self.username, label, method, path, resp.status, ms, request_id))
        headers_out = {k.lower(): v for k, v in resp.getheaders()}
        return Response(resp.status, headers_out, data.decode("utf-8", "replace"), request_id)

    def get(self, path: str, *, label: str) -> Response:
        r = self.request("GET", path, label=label)
        if r.status == 200:
            self.page = path
        return r

    def post(self, path: str, fields: dict[str, str], *, label: str, token: str,
             htmx: bool = False, multipart: bool = False) -> Response:  # fmt: skip
        data = {"csrfmiddlewaretoken": token, **fields}
        if multipart:
            body, ctype = _multipart(data)
        else:
            body, ctype = urlencode(data).encode(), "application/x-www-form-urlencoded"
        headers = {
            "Content-Type": ctype,
            "Origin": self.origin,
            "Referer": self.origin + self.page,
        }
        if htmx:
            headers.update({"HX-Request": "true", "HX-Current-URL": self.origin + self.page})
        return self.request("POST", path, label=label, body=body, headers=headers)

    # --- what a person does ------------------------------------------------------------------
    def form_token(self, path: str, *, label: str) -> tuple[str, Response]:
        r = self.get(path, label=label)
        if r.status != 200:
            raise AssertionError(f"{self.username}: GET {path} answered {r.status}")
        m = CSRF_INPUT.search(r.text)
        if not m:
            raise AssertionError(f"{self.username}: no CSRF token in {path}")
        return m.group(1), r

    def login(self, password: str) -> Response:
        token, _ = self.form_token("/accounts/login/", label="login form")
        r = self.post(
            "/accounts/login/",
            {"username": self.username, "password": password, "next": ""},
            label="login",
            token=token,
        )
        if r.status != 302 or "sessionid" not in self.cookies:
            # Stop at the first failure: retrying would walk into django-axes' lockout.
            raise AssertionError(f"{self.username}: login answered {r.status}")
        return r

    def follow(self, r: Response, *, label: str) -> list[tuple[str, str]]:
        """GET the redirect target; return the flash messages shown there as (level, text)."""
        target = urlsplit(r.location)
        path = target.path + (f"?{target.query}" if target.query else "")
        page = self.get(path, label=label)
        if page.status != 200:
            raise AssertionError(f"{self.username}: GET {path} answered {page.status}")
        return [(lvl, html.unescape(re.sub(r"<[^>]+>", "", txt)).strip())
                for lvl, txt in ALERT.findall(page.text)]  # fmt: skip


def step_error(text: str) -> str:
    m = STEP_ERROR.search(text)
    return html.unescape(m.group(1)).strip() if m else ""


def page_error(text: str) -> str:
    """The danger alerts of a page answered in place (400: a form the service refused)."""
    return " ".join(
        html.unescape(re.sub(r"<[^>]+>", "", txt)).strip()
        for level, txt in ALERT.findall(text)
        if level == "danger"
    )
