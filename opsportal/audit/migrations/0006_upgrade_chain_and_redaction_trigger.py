"""Format 2 for the existing chain, and a PostgreSQL trigger that lets a redaction through.

1. ``upgrade_chain`` (``opsportal/audit/upgrade.py``): a chain that verifies in format 1 is
   rehashed in format 2 and an ``audit.chain.upgraded`` event records the old head; a broken one
   stays format 1 and the event says where it broke. Nothing happens on an empty database.
   The append-only trigger is disabled for the rewrite and enabled again, inside this
   migration's transaction.
2. The trigger still refuses DELETE and every UPDATE except a redaction: nothing but the
   redactable columns, ``salt`` and ``redactions`` may change; a changed text column must become
   "" (``ip`` NULL) and a changed ``changes`` value ``{"redacted": true}``, each with its
   commitment stored; ``salt`` must be emptied, stored commitments kept, and the redaction log
   must grow. So an edit in SQL still needs the trigger dropped, and ``audit_verify`` names it.

TRUNCATE is left to a statement-level trigger of its own (0009).
"""

from django.db import migrations

from opsportal.audit.upgrade import upgrade_chain

REDACTABLE_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
DECLARE
    redactable CONSTANT text[] := ARRAY[
        'actor_label', 'target_repr', 'message', 'ip', 'user_agent', 'changes', 'salt',
        'redactions'];
    new_commit jsonb;
    old_commit jsonb;
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.redactions IS NOT NULL
       AND jsonb_typeof(NEW.redactions -> 'commit') = 'object'
       AND jsonb_typeof(NEW.redactions -> 'log') = 'array'
       AND jsonb_typeof(NEW.changes) = 'object'
       AND jsonb_typeof(OLD.changes) = 'object'
    THEN
        new_commit := NEW.redactions -> 'commit';
        old_commit := COALESCE(OLD.redactions -> 'commit', '{}'::jsonb);
        IF (to_jsonb(NEW) - redactable) = (to_jsonb(OLD) - redactable)
           AND NEW.salt = ''
           AND new_commit @> old_commit
           AND jsonb_array_length(NEW.redactions -> 'log')
               > COALESCE(jsonb_array_length(OLD.redactions -> 'log'), 0)
           AND (NEW.actor_label = OLD.actor_label
                OR (NEW.actor_label = '' AND new_commit ? 'actor_label'))
           AND (NEW.target_repr = OLD.target_repr
                OR (NEW.target_repr = '' AND new_commit ? 'target_repr'))
           AND (NEW.message = OLD.message OR (NEW.message = '' AND new_commit ? 'message'))
           AND (NEW.ip IS NOT DISTINCT FROM OLD.ip OR (NEW.ip IS NULL AND new_commit ? 'ip'))
           AND (NEW.user_agent = OLD.user_agent
                OR (NEW.user_agent = '' AND new_commit ? 'user_agent'))
           AND (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(NEW.changes) AS k)
               IS NOT DISTINCT FROM
               (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(OLD.changes) AS k)
           AND NOT EXISTS (
               SELECT 1 FROM jsonb_each(NEW.changes) AS n
               WHERE n.value IS DISTINCT FROM OLD.changes -> n.key
                 AND NOT (n.value = '{"redacted": true}'::jsonb
                          AND new_commit ? ('changes.' || n.key)))
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'audit_auditevent is append-only: ' || TG_OP || ' refused'
            || CASE WHEN TG_OP = 'UPDATE' THEN ' (only a redaction may change an event)'
                    ELSE '' END,
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

APPEND_ONLY_TRIGGER = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit_auditevent is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def forwards(apps, schema_editor):
    upgrade_chain(
        apps.get_model("audit", "AuditEvent"),
        apps.get_model("audit", "AuditChainHead"),
        using=schema_editor.connection.alias,
    )
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REDACTABLE_TRIGGER)


def backwards(apps, schema_editor):
    # Format 2 hashes stay (a downgrade cannot restore format 1 without the removed values);
    # only the trigger goes back to refusing every UPDATE.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_TRIGGER)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_redactable_format")]

    operations = [migrations.RunPython(forwards, backwards)]
