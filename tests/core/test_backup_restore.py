"""The backup procedure the README gives (`pg_dump -Fc`, `pg_restore`, `audit_verify`) works:
a restored copy holds the same audit chain, verifies, and still refuses edits to the trail."""

import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection, transaction

from opsportal.audit.models import AuditChainHead
from opsportal.audit.services import record

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _pg_env() -> tuple[dict, list[str]]:
    db = connection.settings_dict
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    args = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]
    return env, args


def _url(name: str) -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


@pytest.fixture
def restore_db(postgres_only):
    for tool in ("pg_dump", "pg_restore", "psql"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed")
    env, args = _pg_env()
    name = f"{connection.settings_dict['NAME']}_restore"
    drop = ["psql", *args, "-d", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}"']
    subprocess.run(drop, env=env, check=True)
    subprocess.run(["psql", *args, "-d", "postgres", "-qc", f'CREATE DATABASE "{name}"'],
                   env=env, check=True)  # fmt: skip
    yield name
    subprocess.run([*drop[:-1], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], env=env)


def test_pg_dump_and_restore_keep_a_verifiable_append_only_trail(
    restore_db, user_factory, tmp_path
):
    operator = user_factory("operator")
    for i in range(25):
        with transaction.atomic():
            record(actor=operator, action="configvar.updated", target_repr=f"KEY_{i}")
    head = AuditChainHead.objects.get(pk=1)
    env, args = _pg_env()
    dump = tmp_path / "opsportal.dump"
    subprocess.run(
        ["pg_dump", *args, "-Fc", "-f", str(dump), connection.settings_dict["NAME"]],
        env=env, check=True,
    )  # fmt: skip
    subprocess.run(
        ["pg_restore", *args, "--no-owner", "-d", restore_db, str(dump)], env=env, check=True
    )

    verify = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=settings.BASE_DIR, env={**env, "DATABASE_URL": _url(restore_db)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert f"{head.seq} events, head {head.hash}" in verify.stdout

    tamper = subprocess.run(
        ["psql", *args, "-d", restore_db, "-c",
         "UPDATE audit_auditevent SET target_repr = 'x' WHERE seq = 1"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert tamper.returncode != 0
    assert "append-only" in tamper.stderr
