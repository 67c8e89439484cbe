"""A credential stays a fingerprint even when an operator says it is public."""

import io
import json
import random
import string

import pytest
from django.core.management import call_command

from environments.models import ConfigVar
from opsportal.audit.models import AuditEvent


def _token(seed: int, n: int = 20) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _import(path, *extra):
    out = io.StringIO()
    call_command(
        "env_import",
        str(path),
        "--project",
        "p",
        "--environment",
        "dev",
        "--as",
        "otto",
        *extra,
        stdout=out,
    )
    return out.getvalue()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_public_flag_cannot_store_a_credential_in_the_clear(users, tmp_path, seed):
    password = _token(seed)
    env = tmp_path / ".env"
    env.write_text(
        f"DATABASE_URL=postgres://app:{password}@db.example.com:5432/app\n"
        "REDIS_URL=redis://cache.internal:6379\n"
        "SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/"
        f"{_token(seed, 24)}\n"
    )
    preview = json.loads(
        _import(env, "--public", "DATABASE_URL", "--public", "REDIS_URL", "--dry-run", "--json")
    )
    added = {item["key"]: item["after"] for item in preview["added"]}
    assert added["DATABASE_URL"]["is_secret"] is True
    assert "password" in added["DATABASE_URL"]["forced"]
    assert added["REDIS_URL"]["is_secret"] is False  # no credential in it: the choice holds
    assert added["SLACK_WEBHOOK_URL"]["is_secret"] is True
    assert password not in json.dumps(preview)

    _import(env, "--public", "DATABASE_URL", "--public", "REDIS_URL")
    db = ConfigVar.objects.get(key="DATABASE_URL")
    assert db.is_secret and db.value == "" and db.value_kind == "database_url"
    assert ConfigVar.objects.get(key="REDIS_URL").value == "redis://cache.internal:6379"
    events = AuditEvent.objects.filter(
        action="configvar.created", target_repr__endswith="DATABASE_URL"
    )
    assert events.count() == 1
    assert password not in json.dumps(events.get().changes)

    # Later the public Redis URL gains a password: it becomes a secret, whatever was chosen.
    env.write_text(f"REDIS_URL=redis://default:{password}@cache.internal:6379\n")
    _import(env, "--public", "REDIS_URL")
    redis = ConfigVar.objects.get(key="REDIS_URL")
    assert redis.is_secret and redis.value == ""
    updated = AuditEvent.objects.filter(
        action="configvar.updated", target_repr__endswith="REDIS_URL"
    )
    assert updated.count() == 1 and password not in json.dumps(updated.get().changes)
    assert not ConfigVar.objects.filter(value__contains=password).exists()
