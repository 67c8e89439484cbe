"""The repair migration on a database seeded with the leaks earlier versions let through.

The seeding imitates the old code: variables stored public with credentials in their values,
audit rows and a change request quoting them (masking switched off the way it had gaps), and
free text with a credential written before its field masked.
"""

import io
import json
import random
import string

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection, transaction

from environments.models import ChangeRequest, ConfigVar, Project
from environments.repair import reclassify_stored_values
from opsportal.audit import services as audit_services
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import record
from opsportal.repair import mask_existing_free_text


def _tok(rng, n):
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(n))


def _leaks(rng) -> dict[str, str]:
    return {
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/"
        + _tok(rng, 24),
        "SENTRY_DSN": f"https://{_tok(rng, 32).lower()}@o4504.ingest.sentry.io/4504",
        "DISCORD_WEBHOOK_SECRET": "https://discord.com/api/webhooks/12345/" + _tok(rng, 40),
        "REDIS_URL": f"redis://default:{_tok(rng, 22)}@cache.example.com:6379",
        "DATABASE_URL": f"postgres://u:{_tok(rng, 18)}@db.example.com/app",
    }


def _all_text() -> str:
    """Every row of the tables the leaks could sit in, as text."""
    with connection.cursor() as cursor:
        chunks = []
        for table in (
            "environments_configvar",
            "environments_changerequest",
            "environments_project",
            "audit_auditevent",
        ):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 (fixed table names)
            chunks += [json.dumps(row, default=str) for row in cursor.fetchall()]
    return "\n".join(chunks)


@pytest.fixture
def leaked(db, dev, prod, monkeypatch):
    rng = random.Random(len(dev.name) * 31 + prod.pk)
    values = _leaks(rng)
    # The old masking had gaps: for the seeding, none at all.
    monkeypatch.setattr(audit_services, "scrub", lambda value, **kw: value)
    monkeypatch.setattr(audit_services, "scrub_text", lambda text: text)
    with transaction.atomic():
        for key, value in values.items():
            var = ConfigVar.objects.create(
                environment=dev, key=key, is_secret=False, has_value=True, value=value,
                value_kind="url", fingerprint="f" * 64,
            )  # fmt: skip
            record(
                actor=None, action="configvar.created", target=var, environment=dev,
                changes={"op": "create", "key": key, "after": {"is_secret": False, "value": value}},
                message=f"imported {key}={value}",
            )  # fmt: skip
        cr = ChangeRequest.objects.create(
            environment=prod, kind="variables", summary="1 variable", author=_author(),
            payload={"vars": [{"op": "create", "key": "REDIS_URL", "before": None,
                               "after": {"is_secret": False, "has_value": True,
                                         "value": values["REDIS_URL"], "fingerprint": "e" * 64,
                                         "value_kind": "redis_url", "hint": "", "detail": ""}}]},
        )  # fmt: skip
        record(actor=None, action="changerequest.created", target=cr, environment=prod,
               changes={"changes": cr.payload["vars"]})  # fmt: skip
    # Free text written before its column masked (the field would mask it today: bypass it).
    project = Project.objects.get(pk=dev.project_id)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE environments_project SET description = %s WHERE id = %s",
            [f"ops notes: {values['DATABASE_URL']}", project.pk],
        )
    monkeypatch.undo()
    assert all(v in _all_text() for v in values.values())
    return values


def _author():
    from tests.factories import UserFactory

    return UserFactory(role="operator")


def test_repair_turns_credentials_into_fingerprints_and_redacts_the_audit_trail(leaked):
    with transaction.atomic():
        result = reclassify_stored_values(django_apps)
        masked = mask_existing_free_text(django_apps, "environments")

    assert result["variables"] == len(leaked)
    assert result["change_requests"] == 1
    assert result["audit_fields_redacted"] >= 2 * len(leaked)
    assert masked == 1

    for key in leaked:
        var = ConfigVar.objects.get(environment__name="dev", key=key)
        assert var.is_secret and var.value == "" and len(var.fingerprint) == 64
        assert var.value_kind not in ("", "url")
        event = AuditEvent.objects.get(action="configvar.reclassified", target_id=str(var.pk))
        assert event.changes["key"] == key and event.changes["reason"]
    after = ChangeRequest.objects.get().payload["vars"][0]["after"]
    assert after["is_secret"] is True and after["value"] == ""
    assert AuditEvent.objects.filter(action="changerequest.payload.reclassified").count() == 1
    assert AuditEvent.objects.filter(action="data.free_text.masked").count() == 1
    assert AuditEvent.objects.filter(action="audit.event.redacted").count() >= 2 * len(leaked)

    dump = _all_text()
    for value in leaked.values():
        assert value not in dump

    out = io.StringIO()
    call_command("audit_verify", stdout=out)  # exits 1 (SystemExit) when the chain is broken
    assert out.getvalue().startswith("Audit chain intact")


def test_repair_leaves_public_values_and_is_idempotent(db, dev):
    ConfigVar.objects.create(
        environment=dev, key="NEXT_PUBLIC_APP_URL", is_secret=False, has_value=True,
        value="https://app.example.com", value_kind="url",
    )  # fmt: skip
    with transaction.atomic():
        first = reclassify_stored_values(django_apps)
        second = reclassify_stored_values(django_apps)
    assert first["variables"] == second["variables"] == 0
    assert ConfigVar.objects.get(key="NEXT_PUBLIC_APP_URL").value == "https://app.example.com"
    assert not AuditEvent.objects.filter(action="configvar.reclassified").exists()


def test_the_migration_itself_repairs_on_its_historical_models(leaked):
    """The data migration's own function, on the models as the migration sees them (not the
    current ones): the seeded leaks are gone and the chain still verifies."""
    import importlib

    from django.db.migrations.loader import MigrationLoader

    migration = ("environments", "0007_repair_stored_credentials")
    state = MigrationLoader(connection).project_state(migration, at_end=True)
    module = importlib.import_module(f"{migration[0]}.migrations.{migration[1]}")
    with transaction.atomic():
        module.forwards(state.apps, None)

    for key in leaked:
        var = ConfigVar.objects.get(environment__name="dev", key=key)
        assert var.is_secret and var.value == ""
        assert AuditEvent.objects.filter(
            action="configvar.reclassified", target_id=str(var.pk)
        ).exists()
    dump = _all_text()
    assert not [key for key, value in leaked.items() if value in dump]
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert out.getvalue().startswith("Audit chain intact")
