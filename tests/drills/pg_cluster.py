"""A private, throw-away PostgreSQL cluster for drills that restart or stop the server.

The test suite shares the system PostgreSQL; a drill that restarts the database gets its own
cluster (``initdb`` + ``pg_ctl`` in a temporary directory, on a free port) holding a copy of the
migrated test database, so only the drill's own connections are cut.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path | None:
    candidates = []
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10
            )
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for path in candidates:
        if path and (Path(path) / "initdb").exists() and (Path(path) / "pg_ctl").exists():
            return Path(path)
    return None


def unavailable() -> str | None:
    """Why a private cluster cannot be started here, or None when it can."""
    bindir = _bindir()
    if bindir is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to run initdb as"
        if not shutil.which("runuser"):
            return "running as root and `runuser` is missing (initdb refuses to run as root)"
    for tool in ("pg_dump", "psql"):
        if not (bindir / tool).exists() and not shutil.which(tool):
            return f"{tool} is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateCluster:
    """``start()``, ``restart()``, ``stop()``, ``destroy()``; connect to 127.0.0.1:``port`` as
    user ``postgres`` (trust authentication, only on the loopback interface)."""

    def __init__(self):
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="opsportal-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    def _run(self, *argv, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / argv[0]), *map(str, argv[1:])]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
        if result.returncode:
            raise RuntimeError(
                f"{' '.join(cmd)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
                f"\n{self.log_tail()}"
            )
        return result

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> "PrivateCluster":
        if not self.data.exists():
            self._run(
                "initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                "--locale=C", "--no-sync", "--no-instructions",
            )  # fmt: skip
            with (self.data / "postgresql.conf").open("a") as conf:
                conf.write(
                    f"port = {self.port}\n"
                    "listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.root}'\n"
                    # a drill's data is thrown away: durability costs time and buys nothing
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "max_connections = 50\nshared_buffers = 32MB\n"
                )
        self._run("pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start")
        return self

    def restart(self, mode: str = "fast") -> None:
        """Stop (cutting every connection) and start again; returns once it accepts connections."""
        # -l again: without it the new postmaster would inherit (and hold open) our stdout pipe
        self._run(
            "pg_ctl", "-D", self.data, "-l", self.logfile, "-m", mode, "-w", "-t", "60", "restart"
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0

    def destroy(self) -> None:
        """Stop the server (immediately: nothing to keep) and remove its directory."""
        try:
            if self.data.exists() and self.running():
                self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def copy_database(self, source: dict, name: str) -> None:
        """Create ``name`` here as a copy of the database ``source`` (a connection settings dict):
        ``pg_dump`` piped into ``psql``, schema and data, in one pass."""
        tool = lambda t: str(self.bindir / t) if (self.bindir / t).exists() else shutil.which(t)  # noqa: E731
        env = {**os.environ}
        if source.get("PASSWORD"):
            env["PGPASSWORD"] = source["PASSWORD"]
        self.psql("postgres", f'CREATE DATABASE "{name}"')
        dump = subprocess.Popen(
            [tool("pg_dump"), "--no-owner", "--no-privileges", "-h", source["HOST"] or "127.0.0.1",
             "-p", str(source["PORT"] or 5432), "-U", source["USER"], source["NAME"]],
            stdout=subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            load = subprocess.run(
                [tool("psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                 "-p", str(self.port), "-U", "postgres", "-d", name],
                stdin=dump.stdout, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
        finally:
            dump.stdout.close()
            dump.wait(timeout=300)
        if dump.returncode or load.returncode:
            raise RuntimeError(f"copying {source['NAME']} failed: {load.stderr[-2000:]}")

    def psql(self, db: str, sql: str) -> str:
        psql = str(self.bindir / "psql") if (self.bindir / "psql").exists() else "psql"
        result = subprocess.run(
            [psql, "-q", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if result.returncode:
            raise RuntimeError(f"psql {sql!r}: {result.stderr}")
        return result.stdout
