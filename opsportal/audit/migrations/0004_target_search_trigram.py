"""A trigram index for the audit log's target filter ("who changed STRIPE_SECRET_KEY?").

PostgreSQL only: the filter is ``UPPER(target_repr) LIKE UPPER('%q%')``, which a btree cannot
serve; over a million events it scanned 200,000 rows (~160 ms) even with an action prefix
narrowing it, and the whole table without one.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        "CREATE INDEX IF NOT EXISTS audit_target_repr_trgm "
        "ON audit_auditevent USING gin (UPPER(target_repr) gin_trgm_ops)"
    )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS audit_target_repr_trgm")


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_chain_head_at")]

    operations = [migrations.RunPython(create, drop)]
