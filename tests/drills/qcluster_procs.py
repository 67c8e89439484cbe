"""Real ``manage.py qcluster`` subprocesses for fault drills.

Each worker runs in its own process group (``start_new_session``) so ``stop`` reaches the sentinel
and every process it forked, and logs to a file the drill can wait on and quote when it fails.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

REPO = settings.BASE_DIR


def database_url(db: dict | None = None) -> str:
    db = db or connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}"


class Worker:
    """One qcluster: the process (group leader) and its log file."""

    def __init__(self, proc: subprocess.Popen, log: Path | None):
        self.proc = proc
        self.log = log

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the sentinel reports the cluster running (its pusher is pulling tasks)."""
        ok = wait_for(lambda: "running." in self.output() or self.proc.poll() is not None, timeout)
        assert ok and self.proc.poll() is None, f"qcluster did not start:\n{self.tail()}"

    def stop(self, sig=signal.SIGKILL) -> None:
        stop(self.proc, sig)


def start_worker(
    *,
    cluster: str | None = None,
    db: dict | None = None,
    log: Path | None = None,
    batch_pause: float = 0.15,
    env: dict | None = None,
) -> Worker:
    """Start ``manage.py qcluster`` on ``cluster`` (default: the imports cluster) against the
    test database (or ``db``, a connection settings dict), with tasks run for real."""
    db = db or connection.settings_dict
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(db),
        "OPSPORTAL_TESTING": "0",
        "Q_SYNC": "0",
        "Q_CLUSTER_NAME": cluster or settings.IMPORTS_CLUSTER,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "IMPORTS_BATCH_PAUSE": str(batch_pause),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    if db.get("PASSWORD"):
        full_env["PGPASSWORD"] = db["PASSWORD"]
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "manage.py"), "qcluster"],
            env=full_env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    finally:
        if log:
            out.close()
    return Worker(proc, log)


def stop(proc: subprocess.Popen, sig=signal.SIGKILL) -> None:
    """Signal the whole process group (sentinel, pusher, monitor, workers) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    if sig != signal.SIGKILL:
        # stragglers of a graceful stop (children outlive the sentinel for a moment)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def wait_for(predicate: Callable[[], bool], timeout: float = 90.0, interval: float = 0.05):
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
