"""``field__any_of=[...]``: membership in a list as one array parameter on PostgreSQL.

A batch looks up a thousand keys at a time. ``__in`` renders a thousand placeholders, which
psycopg splits and binds one by one on every query (~3 s per 100k-order import, measured);
``= ANY(%s)`` sends the whole list as a single array. Elsewhere it is plain ``IN``.
"""

from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


class AnyOf(Lookup):
    lookup_name = "any_of"

    def get_prep_lookup(self):
        # keys come from the importer's own parsing, already of the column's type; preparing
        # each of a thousand values through the field costs more than the query
        return list(self.rhs)

    def as_sql(self, compiler, connection):
        values = list(dict.fromkeys(self.rhs))
        if not values:
            return "1 = 0", []
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        # plain IN; the values are already of the column's type (see get_prep_lookup), and
        # Django's own IN prepares each one through the field (a third of a SQLite import)
        max_size = connection.ops.max_in_list_size()
        if max_size and len(values) > max_size:
            return In(self.lhs, values).as_sql(compiler, connection)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


def register() -> None:
    Field.register_lookup(AnyOf)
    ForeignObject.register_lookup(AnyOf)  # related fields resolve lookups on their own
