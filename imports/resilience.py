"""Import workers that outlive a database restart.

A worker that loses its connection mid-job (a server restart, a failover) waits for the
database, has the service record ``import.job.interrupted`` and runs the interrupted
transaction again: a
transaction either committed or left nothing, and each re-checks the job's checkpoint, so
nothing is lost or doubled.
"""

import logging
import os
import time

from django.db import InterfaceError, OperationalError, connection

logger = logging.getLogger(__name__)

# A worker that loses its database connection (a restart, a failover) waits this long for the
# database to come back, then continues from the checkpoint; one task does so at most
# DB_RECONNECTS times before the job is left to an operator's resume.
DB_WAIT_SECONDS = float(os.environ.get("IMPORTS_DB_WAIT", "120") or 0)
DB_RECONNECTS = int(os.environ.get("IMPORTS_DB_RECONNECTS", "5") or 0)

# SQLSTATEs of a server going away: connection exceptions (class 08), admin or crash shutdown,
# "cannot connect now" (starting up or shutting down).
_LOST_STATES = ("08", "57P01", "57P02", "57P03")


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database connection went away (rather than a query failing).

    Django wraps the driver's error; the driver's ``sqlstate`` tells a lost server from, say, a
    deadlock. An error with no SQLSTATE never got an answer from the server (refused, reset,
    closed): lost too. (After such an error Django may already hold a new connection: leaving
    the failed transaction reconnects, so the connection's state says nothing.)"""
    if connection.vendor != "postgresql" or not isinstance(exc, OperationalError | InterfaceError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith(_LOST_STATES)


def _reconnect(deadline: float) -> bool:
    """Drop the broken connection and open a new one, retrying until ``deadline``."""
    delay = 0.1
    while True:
        connection.close()
        try:
            connection.ensure_connection()
            if connection.is_usable():
                return True
        except (OperationalError, InterfaceError):
            pass
        if time.monotonic() + delay > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}"[:300]


class Worker:
    """Runs a task's transactions for one job; when the database connection is lost (a
    server restart, a failover), waits for the database, records ``import.job.interrupted``
    and runs the interrupted transaction again. A transaction either committed or left
    nothing, and each one re-checks the job's checkpoint, so nothing is lost or doubled."""

    def __init__(self, job_id: int, *, on_interrupted):
        self.job_id = job_id
        self.interruptions = 0
        # services.py records the audit event: (job_id, interruption number, the error)
        self.on_interrupted = on_interrupted

    def run(self, step):
        while True:
            try:
                return step()
            except (OperationalError, InterfaceError) as exc:
                if (
                    not _connection_lost(exc)
                    or connection.in_atomic_block  # the caller's transaction is gone with it
                    or self.interruptions >= DB_RECONNECTS
                ):
                    raise
                self.interruptions += 1
                logger.warning(
                    "import job %s lost its database connection (%s); reconnecting",
                    self.job_id,
                    first_line(exc),
                )
                if not _reconnect(time.monotonic() + DB_WAIT_SECONDS):
                    raise
                try:
                    self.on_interrupted(self.job_id, self.interruptions, exc)
                except (OperationalError, InterfaceError):
                    continue  # lost again: the step fails once more and counts
