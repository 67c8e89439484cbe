"""The bulk writer every layout's batch handler writes through, and the change log that makes a
job's rollback exact.

Why not django-import-export's ``Resource.import_data`` for the writes: with default settings
it does a query per row and per foreign key (~478 rows/s measured on 100k orders), and its bulk
mode loses the row ↔ error link. Layout handlers prefetch every key a batch needs in a handful
of queries, then write here with ``COPY`` (PostgreSQL) or ``bulk_create`` / ``bulk_update``,
and this module records the before-image of every row a job updates.
"""

import gc
import hashlib
import json
import operator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal
from functools import partial

from django.db import DEFAULT_DB_ALIAS, connection, connections, models

from .choices import ChangeOp
from .models import (
    AffiliateProfile,
    Commission,
    ImportRowChange,
    Member,
    Membership,
    Order,
    Product,
    ReviewItem,
    SejoliAccount,
)

MODELS = {
    m._meta.label_lower: m
    for m in (
        Member,
        SejoliAccount,
        Product,
        AffiliateProfile,
        Order,
        Commission,
        Membership,
        ReviewItem,
    )
}


# --- before-images ------------------------------------------------------------------------------
def _decimal(places: int):
    quantum = Decimal(1).scaleb(-places)
    return lambda v: str(Decimal(v).quantize(quantum))


def _datetime(v):
    return v.astimezone(UTC).isoformat()


def _other(v):
    return v if isinstance(v, (dict, list, str, int, float, bool)) else str(v)


_CONVERTERS: dict[type, list] = {}


def _converters(model) -> list:
    """(attname, converter) per concrete field, built once per model: snapshots are hot."""
    if model not in _CONVERTERS:
        out = []
        for f in model._meta.concrete_fields:
            if isinstance(f, models.DecimalField):
                out.append((f.attname, _decimal(f.decimal_places)))
            elif isinstance(f, models.DateTimeField):
                out.append((f.attname, _datetime))
            elif isinstance(f, (models.IntegerField, models.CharField, models.TextField)):
                out.append((f.attname, None))
            else:
                out.append((f.attname, _other))
        _CONVERTERS[model] = out
    return _CONVERTERS[model]


def snapshot(obj: models.Model) -> dict:
    """The row's stored values as JSON, independent of how Python happened to hold them."""
    values = obj.__dict__
    return {
        name: value if value is None or conv is None else conv(value)
        for name, conv in _converters(type(obj))
        for value in (values[name],)
    }


def digest(snap: dict) -> str:
    return hashlib.sha256(json.dumps(snap, sort_keys=True, default=str).encode()).hexdigest()


def restore(obj: models.Model, snap: dict) -> list[str]:
    names = []
    for f in obj._meta.concrete_fields:
        if f.primary_key or f.attname not in snap:
            continue
        setattr(
            obj, f.attname, f.to_python(snap[f.attname]) if snap[f.attname] is not None else None
        )
        names.append(f.attname)
    return names


@dataclass
class Result:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list = field(default_factory=list)  # (row, key, reason)
    samples: list = field(default_factory=list)

    def outcome(self, what: str, row: int, key: str, sample_limit: int = 0):
        setattr(self, what, getattr(self, what) + 1)
        if len(self.samples) < sample_limit:
            self.samples.append({"row": row, "key": key, "outcome": what})


def insert(model, objs: list) -> None:
    """Insert new model instances and set their primary keys (see ``insert_rows``)."""
    if not objs:
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        model.objects.bulk_create(objs, batch_size=500)
        return
    columns = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
    getters = [operator.attrgetter(c) for c in columns]
    rows = [tuple(get(obj) for get in getters) for obj in objs]
    for obj, pk in zip(objs, insert_rows(model, columns, rows), strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = connection.alias


def insert_rows(model, columns, rows: list[tuple], *, ids: bool = True) -> list[int]:
    """Insert plain tuples of ``columns`` (attnames); the new primary keys, in order.

    On PostgreSQL: ids from the table's sequence, then one ``COPY``. ``bulk_create`` spends most
    of its time compiling a parameterised INSERT (measured: ~3 s of ~9 s for 20k orders), and
    model instances cost more than the rows they carry; COPY streams the tuples. On SQLite:
    multi-row ``INSERT … RETURNING`` of the prepared values (as ``bulk_create`` does, without
    the instances). ``ids=False`` skips reserving keys (rows nobody refers to)."""
    if not rows:
        return []
    meta = model._meta
    if connection.vendor == "sqlite":
        return _sqlite_insert(model, columns, rows, ids)
    if connection.vendor != "postgresql":
        objs = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        model.objects.bulk_create(objs, batch_size=500)
        return [obj.pk for obj in objs]
    from psycopg.types.json import Jsonb

    json_at = [
        i for i, name in enumerate(columns) if isinstance(meta.get_field(name), models.JSONField)
    ]
    masks = _maskers(model, columns)
    quote = connection.ops.quote_name
    pks: list[int] = []
    with connection.cursor() as cursor:
        if ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(rows)],
            )
            pks = [pk for (pk,) in cursor.fetchall()]
        names = [meta.pk.column] if ids else []
        names += [meta.get_field(name).column for name in columns]
        sql = f"COPY {quote(meta.db_table)} ({', '.join(map(quote, names))}) FROM STDIN"
        with cursor.cursor.copy(sql) as copy:
            for n, row in enumerate(rows):
                if json_at or masks:
                    row = list(row)
                    for i, mask in masks:
                        row[i] = mask(row[i])
                    for i in json_at:
                        row[i] = None if row[i] is None else Jsonb(row[i])
                copy.write_row((pks[n], *row) if ids else row)
    return pks


# SQLite takes at most 32,766 parameters per statement (3.32 and later)
SQLITE_PARAMETERS = 32_000


def _maskers(model, columns) -> list:
    """(position, mask) for free-text columns: COPY and raw INSERTs skip the fields' own
    ``get_prep_value``, so the masking those fields promise is applied here."""
    out = []
    for i, name in enumerate(columns):
        field = model._meta.get_field(name)
        if getattr(field, "masks_free_text", False):
            out.append((i, field.mask))
    return out


def _adapters(model, columns) -> list:
    """(position, function) for the columns whose values the database takes converted:
    datetimes (UTC, naive on SQLite), decimals and JSON. Built from the connection's own
    operations once per call, not per value (Django's field methods look the connection up
    for every value: a third of a SQLite import, measured)."""
    ops = connection.ops
    out = []
    for i, name in enumerate(columns):
        field = model._meta.get_field(name)
        if isinstance(field, models.DateTimeField):
            out.append(
                (i, _utc_text if connection.vendor == "sqlite" else ops.adapt_datetimefield_value)
            )
        elif isinstance(field, models.DecimalField):
            out.append((i, ops.adapt_decimalfield_value))
        elif isinstance(field, models.JSONField):
            # Masks a MaskedJSONField's strings too (through its get_prep_value).
            out.append((i, partial(field.get_db_prep_value, connection=connection)))
        elif getattr(field, "masks_free_text", False):
            out.append((i, field.mask))
    return out


def _utc_text(value) -> str:
    """An aware datetime as Django's SQLite backend stores it (naive UTC text), without its
    per-value settings and timezone lookups."""
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _prepared(model, columns, rows: list[tuple]) -> list:
    """Rows with each value as the database takes it."""
    convert = _adapters(model, columns)
    if not convert:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i, adapt in convert:
            if row[i] is not None:
                row[i] = adapt(row[i])
        out.append(row)
    return out


def _sqlite_cursor():
    """The sqlite3 cursor itself, inside Django's transaction: Django's wrapper rewrites every
    ``%s`` to ``?`` with a regular expression, ~1 s of a 100k-order import in statements of
    thousands of parameters (measured). Its errors are sqlite3's, not Django's."""
    connection.ensure_connection()
    return connection.connection.cursor()


def _sqlite_insert(model, columns, rows: list[tuple], ids: bool) -> list[int]:
    meta = model._meta
    quote = connection.ops.quote_name
    names = ", ".join(quote(meta.get_field(name).column) for name in columns)
    per_row = "(" + ", ".join(["?"] * len(columns)) + ")"
    returning = f" RETURNING {quote(meta.pk.column)}" if ids else ""
    step = max(1, SQLITE_PARAMETERS // len(columns))
    pks: list[int] = []
    prepared = _prepared(model, columns, rows)
    cursor = _sqlite_cursor()
    try:
        for start in range(0, len(prepared), step):
            chunk = prepared[start : start + step]
            sql = (
                f"INSERT INTO {quote(meta.db_table)} ({names}) "  # noqa: S608 (identifiers)
                f"VALUES {', '.join([per_row] * len(chunk))}{returning}"
            )
            cursor.execute(sql, [value for row in chunk for value in row])
            if ids:
                pks += [pk for (pk,) in cursor.fetchall()]
    finally:
        cursor.close()
    return pks


def update_rows(model, objs: list, fields: list[str]) -> None:
    """Write ``fields`` of ``objs`` back in one statement.

    On PostgreSQL: ``UPDATE … FROM unnest(arrays)``, one typed array per column. Django's
    ``bulk_update`` builds a ``CASE WHEN pk = … THEN …`` expression per row and field, which
    took 1.9 s for 3,600 affiliates of one commissions file (measured). On SQLite:
    ``UPDATE … FROM (VALUES …)``. Elsewhere, and for JSON columns, ``bulk_update``."""
    if not objs:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    if connection.vendor == "sqlite" and not any(isinstance(f, models.JSONField) for f in columns):
        _sqlite_update(model, objs, [meta.pk, *columns])
        return
    if connection.vendor != "postgresql" or any(isinstance(f, models.JSONField) for f in columns):
        model.objects.bulk_update(objs, fields, batch_size=1000)
        return
    quote = connection.ops.quote_name
    pk = meta.pk
    arrays = [[pk.get_db_prep_value(obj.pk, connection) for obj in objs]]
    arrays += [[f.get_db_prep_value(getattr(obj, f.attname), connection) for obj in objs]
               for f in columns]  # fmt: skip
    types = [pk.db_type(connection), *(f.db_type(connection) for f in columns)]
    names = [pk.column, *(f.column for f in columns)]
    source = ", ".join(f"%s::{t}[]" for t in types)
    sets = ", ".join(f"{quote(n)} = v.{quote(n)}" for n in names[1:])
    # identifiers only, from the model's own meta and quoted; every value is a parameter
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {sets} "  # noqa: S608
        f"FROM unnest({source}) AS v({', '.join(map(quote, names))}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)


def _sqlite_update(model, objs: list, fields: list) -> None:
    """``UPDATE … FROM (VALUES …)`` (SQLite 3.33 and later); ``fields[0]`` is the key."""
    quote = connection.ops.quote_name
    names = [f.attname for f in fields]
    rows = _prepared(model, names, [tuple(getattr(obj, n) for n in names) for obj in objs])
    sets = ", ".join(f"{quote(f.column)} = v.column{i + 2}" for i, f in enumerate(fields[1:]))
    per_row = "(" + ", ".join(["?"] * len(fields)) + ")"
    table = quote(model._meta.db_table)
    step = max(1, SQLITE_PARAMETERS // len(fields))
    cursor = _sqlite_cursor()
    try:
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            cursor.execute(
                f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([per_row] * len(chunk))}) "  # noqa: S608
                f"AS v WHERE {table}.{quote(fields[0].column)} = v.column1",
                [value for row in chunk for value in row],
            )
    finally:
        cursor.close()


_LABELS: dict[type, str] = {}


def _label(model) -> str:
    _LABELS[model] = model._meta.label_lower
    return _LABELS[model]


class Writer:
    """Collects the objects a batch creates or updates, writes them, logs their before-images."""

    # Rows nothing else in a batch looks up again: a preview counts them without writing them.
    DRY_LEAVES = ("imports.order", "imports.commission", "imports.membership")

    def __init__(self, job, dry_run: bool = False, write_nothing: bool = False):
        self.job = job
        self.dry_run = dry_run
        # a preview whose layout keeps what earlier batches "created" in the preview's state
        # writes nothing at all (rows get negative stand-in keys)
        self.write_nothing = dry_run and write_nothing
        self._fake_pk = 0
        self.before: dict[tuple[str, int], dict] = {}
        self.created: dict[tuple[str, int], models.Model] = {}
        self.touched: dict[tuple[str, int], models.Model] = {}
        self.created_rows: list[tuple[str, int]] = []  # created from tuples (create_rows)

    @staticmethod
    def _key(obj):
        return (_LABELS.get(type(obj)) or _label(type(obj)), obj.pk)

    def will_update(self, obj: models.Model) -> None:
        key = self._key(obj)
        if key not in self.before and key not in self.created:
            self.before[key] = snapshot(obj)
        obj.job_id = self.job.pk
        self.touched[key] = obj

    def create(self, model, objs: list) -> None:
        if not objs:
            return
        for obj in objs:
            obj.job_id = self.job.pk
        if self._stand_in(model):
            for obj in objs:
                self._fake_pk -= 1
                obj.pk = self._fake_pk
            return
        insert(model, objs)
        for obj in objs:
            self.created[self._key(obj)] = obj
            self.touched[self._key(obj)] = obj

    def create_rows(self, model, columns: tuple[str, ...], rows: list[tuple]) -> list[int]:
        """Create rows from plain tuples of ``columns`` (attnames, without ``job_id``): the
        cheap path for the many rows of a large file nothing in the batch reads back as
        objects. Their new primary keys, in order (a preview's leaves get none written)."""
        if not rows:
            return []
        label = model._meta.label_lower
        if self._stand_in(model):
            start = self._fake_pk
            self._fake_pk -= len(rows)
            return list(range(start - 1, self._fake_pk - 1, -1))
        job_id = self.job.pk
        pks = insert_rows(model, (*columns, "job_id"), [(*row, job_id) for row in rows])
        self.created_rows.extend((label, pk) for pk in pks)
        return pks

    def update(self, model, objs: list, fields: list[str]) -> None:
        if not self.write_nothing:
            update_rows(model, objs, [*fields, "job"])

    def _stand_in(self, model) -> bool:
        """Whether new rows of ``model`` only get stand-in keys (a preview)."""
        return self.write_nothing or (self.dry_run and model._meta.label_lower in self.DRY_LEAVES)

    def flush(self) -> None:
        """Write the change log: first before-image per row and job, latest after-hash.

        Entries follow the order the rows were written in (a rollback undoes them newest
        first, so an order goes before the member it names). Rows created from tuples get no
        digest (a quarter of a large import's time, measured): such a row carries the job's id
        until anything else changes it, and whatever does either takes the row over (another
        job) or refreshes this entry's hash (a service, see ``commissions.refresh_change_log``).
        """
        job_id = self.job.pk
        # Only rows this batch did not create can already have a change row of this job.
        existing = {}
        by_model: dict[str, list[int]] = {}
        for key in self.touched:
            if key not in self.created:
                by_model.setdefault(key[0], []).append(key[1])
        for label, pks in by_model.items():
            for change in ImportRowChange.objects.filter(
                job=self.job, model=label, object_pk__any_of=pks
            ):
                existing[(label, change.object_pk)] = change
        new, changed = [], []
        for key, obj in self.touched.items():
            after = digest(snapshot(obj))
            if key in existing:
                existing[key].after_hash = after
                changed.append(existing[key])
            elif key in self.created:
                new.append((job_id, key[0], key[1], ChangeOp.CREATED.value, None, after))
            else:
                before = self.before[key]
                new.append((job_id, key[0], key[1], ChangeOp.UPDATED.value, before, after))
        new += [(job_id, label, pk, CREATED, None, UNTOUCHED) for label, pk in self.created_rows]
        insert_rows(ImportRowChange, CHANGE_COLUMNS, new, ids=False)
        update_rows(ImportRowChange, changed, ["after_hash"])
        self.before.clear()
        self.created.clear()
        self.touched.clear()
        self.created_rows.clear()


CREATED = ChangeOp.CREATED.value  # (an enum member's value costs a lookup per row)

# after_hash of a row created from a tuple, still as its job left it (Writer.flush, unchanged_since)
UNTOUCHED = ""


def unchanged_since(change: ImportRowChange, obj: models.Model) -> bool:
    """Whether ``obj`` is still what ``change``'s job left."""
    if change.after_hash == UNTOUCHED:
        return obj.job_id == change.job_id
    return digest(snapshot(obj)) == change.after_hash


CHANGE_COLUMNS = ("job_id", "model", "object_pk", "op", "before", "after_hash")


def apply_changes(obj, values: dict, w: Writer) -> list[str]:
    """Set the differing fields (recording the before-image first); the changed names."""
    diff = [k for k, v in values.items() if getattr(obj, k) != v]
    if diff:
        w.will_update(obj)
        for k in diff:
            setattr(obj, k, values[k])
    return diff


def refresh_statistics(number: int, models_written=()) -> None:
    """ANALYZE the tables a job fills now and then while they fill up.

    Autovacuum lags behind a bulk load: without fresh statistics PostgreSQL keeps planning the
    per-batch key lookups for the empty tables it last saw (sequential scans), and each batch
    gets slower than the one before. Only the tables this layout writes: an ANALYZE of a
    100k-row table costs ~0.3 s."""
    if connection.vendor != "postgresql" or number not in (1, 10, 100):
        return
    with connection.cursor() as cursor:
        for model in models_written:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


@contextmanager
def bulk_work():
    """The state a long import runs in, restored after.

    - Fewer cyclic garbage collections: a batch allocates tens of thousands of short-lived
      objects, and Python's default thresholds run a collection every few hundred allocations
      (~10% of a batch, measured).
    - No query log, even with ``DEBUG`` on: Django would format and keep every statement of
      the import, each with a thousand parameters (SQLite re-quotes them with a query of its
      own): 4.7 s and tens of MB of a 90,000-order migration, measured. Connections belong
      to one thread, so the switch is this thread's alone.
    """
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    wrapper = connections[DEFAULT_DB_ALIAS]
    nested = "make_debug_cursor" in wrapper.__dict__
    wrapper.make_debug_cursor = wrapper.make_cursor
    try:
        yield
    finally:
        gc.set_threshold(*before)
        if not nested:
            del wrapper.make_debug_cursor
