"""What every layout shares: the resource base class (one declaration of a file's columns and
widgets) and the state of one batch.

A layout is a django-import-export ``Resource`` whose fields name the file's columns and the
widgets that clean them; the job engine reads every row through ``read`` and hands the batch to
the layout's ``handle``, which writes in bulk through ``writer.Writer``. The admin's Import uses
the same class (see ``layouts.admin_import``), so the column rules exist once.
"""

import operator
from typing import ClassVar

from import_export import resources

from .. import normalise as n
from ..models import Product
from ..writer import Result, Writer

REGISTRY: dict[str, type["LayoutResource"]] = {}


class LayoutResource(resources.Resource):
    """One file layout: its columns (fields, in the file's order) and its batch handler."""

    kind: ClassVar[str] = ""
    # the field whose raw cell names a row in error reports (INV, user id, order id ...)
    key_field: ClassVar[str] = ""
    # the tables the handler fills (their statistics are refreshed while a job runs)
    writes: ClassVar[tuple] = ()
    # the rejection reason of a row whose key cell is empty, reported before anything else is
    # read ("" = the layout's own checks decide)
    missing_key: ClassVar[str] = ""
    registers: ClassVar[bool] = True
    # False: the handler finds what earlier batches of a preview created in ``batch.state``,
    # so a preview writes nothing; True: a preview writes and is rolled back
    preview_writes: ClassVar[bool] = False
    # columns that older versions of the exporting program did not write yet
    older_versions_lack: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs):
        """A subclass with a kind is *the* layout of that kind, unless it sets
        ``registers = False`` (a variant for another caller, such as the admin's Import)."""
        super().__init_subclass__(**kwargs)
        if cls.kind and cls.registers:
            REGISTRY[cls.kind] = cls
            # (attribute, column, clean) per field, built once: ``read`` runs for every row.
            cls._readers = [
                (name, field.column_name, field.widget.reader())
                for name, field in cls.fields.items()
            ]
            cls._cleaners = [(name, clean) for name, _, clean in cls._readers]
            cls._cells = operator.itemgetter(*(column for _, column, _ in cls._readers))

    @classmethod
    def columns(cls) -> list[str]:
        """The file's columns in order (a column two fields read is listed once)."""
        return list(dict.fromkeys(field.column_name for field in cls.fields.values()))

    @classmethod
    def variants(cls) -> list[list[str]]:
        """Every header this layout is known by: today's, then the older one."""
        columns = cls.columns()
        if not cls.older_versions_lack:
            return [columns]
        return [columns, [c for c in columns if c not in cls.older_versions_lack]]

    @classmethod
    def key_of(cls, raw: dict) -> str:
        return (raw.get(cls.fields[cls.key_field].column_name) or "").strip()

    @classmethod
    def read(cls, raw: dict) -> dict:
        """The row's cleaned values by field name; ``normalise.Invalid`` names what is wrong."""
        if cls.missing_key and not n.text(cls.key_of(raw)):  # "-" is empty too
            raise n.Invalid(cls.missing_key)
        try:
            cells = cls._cells(raw)
        except KeyError:  # a column older exports lack
            cells = [raw.get(column) for _, column, _ in cls._readers]
        pairs = zip(cls._cleaners, cells, strict=True)
        values = {name: clean(cell) for (name, clean), cell in pairs}
        cls.check(values)
        return values

    @classmethod
    def check(cls, values: dict) -> None:
        """Rules across columns (a buyer needs an email or a phone, ...); override."""

    @classmethod
    def handle(cls, batch: "Batch", rows: list[tuple[int, dict]]) -> None:
        """Write one batch of ``(row number, raw row)``; override."""
        raise NotImplementedError

    @classmethod
    def parse(cls, batch: "Batch", rows) -> list[tuple[int, dict]]:
        """``(row, values)`` of the rows that read cleanly; the others are rejected."""
        parsed = []
        for row, raw in rows:
            try:
                parsed.append((row, cls.read(raw)))
            except n.Invalid as exc:
                batch.reject(row, cls.key_of(raw), str(exc))
        return parsed


class Batch:
    """State shared by the handler of one batch: the writer, the counts, the products."""

    def __init__(self, job, sample_limit: int = 0, dry_run: bool = False, state=None, writes=True):
        self.job = job
        self.dry_run = dry_run
        # a preview's state lives across its batches; an apply's, one batch
        self.state = state if state is not None else {}
        self.w = Writer(job, dry_run, write_nothing=not writes)
        self.r = Result()
        self.sample_limit = sample_limit
        self._products: dict[str, Product] | None = None

    def done(self, what: str, row: int, key: str) -> None:
        self.r.outcome(what, row, key, self.sample_limit)

    def reject(self, row: int, key: str, reason: str) -> None:
        self.r.rejected.append((row, key, reason))

    def pending(self, name: str) -> dict:
        """What earlier batches of this preview created, by key (empty outside a preview)."""
        return self.state.setdefault(name, {})

    def products(self) -> dict[str, Product]:
        if self._products is None:
            self._products = {p.name: p for p in Product.objects.all()}
            self._products.update(self.pending("products"))
        return self._products

    def product(self, name: str, sejoli_id: int | None = None) -> Product:
        """The product of that name; a new one, with no settings yet, when the shop's files
        name it before its settings are loaded (its commissions then wait for a setting)."""
        products = self.products()
        if name not in products:
            product = Product(name=name, sejoli_id=sejoli_id)
            self.w.create(Product, [product])
            products[name] = self.pending("products")[name] = product
        return products[name]
