"""Trigram indexes for the member and order searches (substring match on email, name, phone).

PostgreSQL only: `icontains` becomes ``UPPER(col) LIKE UPPER('%q%')``, which a btree cannot
serve; without these a search over 100,000 members scans the table (~200 ms). SQLite, the
embedded default, keeps scanning: its tables are small.
"""

from django.db import migrations

INDEXES = (
    ("imports_member_email_trgm", "imports_member", "UPPER(email) gin_trgm_ops"),
    ("imports_member_name_trgm", "imports_member", "UPPER(name) gin_trgm_ops"),
    ("imports_member_phone_trgm", "imports_member", "phone gin_trgm_ops"),
)


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, expression in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({expression})"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("imports", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
