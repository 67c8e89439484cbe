"""PostgreSQL: a statement-level trigger refuses ``TRUNCATE audit_auditevent`` (docs/audit.md).

The row-level trigger (0002, 0006) cannot see a ``TRUNCATE``. This one raises unless the session
set ``opsportal.allow_truncate`` to ``on`` — what the test suite does on its own connections,
since pytest-django resets databases with ``TRUNCATE`` (tests/conftest.py). ``ENABLE ALWAYS``: it
also fires with ``session_replication_role = replica``. The table owner can still disable it;
signed checkpoints (``audit_verify --checkpoints``) catch what follows.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION audit_event_no_truncate() RETURNS trigger AS $$
BEGIN
    IF coalesce(current_setting('opsportal.allow_truncate', true), '') = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'audit_auditevent is append-only: TRUNCATE refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_no_truncate();
ALTER TABLE audit_auditevent ENABLE ALWAYS TRIGGER audit_event_no_truncate;
"""

DROP = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_no_truncate();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0008_checkpoint_schedule")]

    operations = [migrations.RunPython(forwards, backwards)]
