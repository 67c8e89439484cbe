"""Benchmark: Sejoli imports against a hand-written COPY + upsert baseline, and the full migration.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal \
        .venv/bin/python bench/imports_bench.py [--orders 90000] [--compare-orders 100000]

What one run measures and prints (goals from the import rewrite):

1. **Orders comparison** (goal: importer within 4x of the baseline), on every database in play:
   a *baseline* a good engineer would write by hand for orders.csv -- Python's csv module, only
   the normalising the tables need, PostgreSQL ``COPY`` (SQLite: ``executemany``) into a TEMP
   staging table, then set-based upserts into the real ``imports_member``, ``imports_product`` and
   ``imports_order`` tables -- against the real importer on the same file
   (``services.job_create(validate="now")`` + ``job_confirm`` + ``job_apply``: preview + apply).
   Fair design: both start from the same state, empty member tables in the same throwaway
   database, and import orders.csv alone (users.csv is not needed: both create buyers from the
   orders). The baseline runs first, the member tables are emptied (and VACUUMed on PostgreSQL),
   the normalisers' caches are cleared, then the importer runs. The importer does more than the
   baseline (validation, affiliates, commissions, review items, before-images for rollback,
   audit): the 4x allowance is for that.
2. **Full migration** (goal: < 13 s wall clock and < 250 MB peak RSS, per database):
   ``manage.py import_sejoli products.csv users.csv orders.csv commissions.csv subscriptions.csv
   --json`` in a child process against a fresh database of its own (``migrate`` first, not timed);
   wall clock includes the child's start-up, peak RSS is the child's (``os.wait4``).

Databases: PostgreSQL when DATABASE_URL is postgres (the comparison in a throwaway
``test_imports_bench_<pid>`` database made by ``create_test_db``, the migration in
``imports_bench_migration_<pid>``; both dropped), and SQLite always (temp files) unless --no-sqlite.
Children run with DEBUG=False (production-like; --debug keeps the environment's DEBUG).

Files: two generated sets by default (../shared/tools/make_sejoli_export.py): 100,000 orders for
the comparison (as DESIGN.md's reference figures) and 90,000 for the migration (an 18,000-member
shop). --dir DIR uses one set for both (generated into DIR with --orders when it is empty).

Options: --orders N (migration set, 90000), --compare-orders N (100000), --dir, --batch-size,
--skip-migration, --skip-baseline (skip the comparison), --no-sqlite, --profile (run the importer
a second time under cProfile and print where its time goes), --repeat N (run each part N times,
interleaved, and keep the best: the machine is shared), --plain-rows N (also time a plain
django-import-export ModelResource on N orders; 0 = skip), --debug.
"""

import argparse
import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
MANAGE = ROOT / "manage.py"
GENERATOR = ROOT.parent / "shared" / "tools" / "make_sejoli_export.py"
MIGRATION_FILES = (
    "products.csv",
    "users.csv",
    "orders.csv",
    "commissions.csv",
    "subscriptions.csv",
)
GOAL_RATIO = 4.0
GOAL_SECONDS = 13.0
GOAL_MB = 250.0
RESULT = "RESULT "  # a comparison child's last line: RESULT {json}


# --- files ---------------------------------------------------------------------------------------


def ensure_files(folder: Path, orders: int) -> Path:
    if (folder / "orders.csv").exists():
        return folder
    if not GENERATOR.exists():
        sys.exit(f"no files in {folder} and no generator at {GENERATOR}")
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(folder), "--orders", str(orders)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"generated {orders:,} orders into {folder} in {time.perf_counter() - t0:.1f}s")
    return folder


# --- databases -----------------------------------------------------------------------------------


def with_db_name(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def pg_admin(url: str):
    """An autocommit connection to the server's maintenance database (CREATE/DROP DATABASE)."""
    import psycopg

    parts = urlsplit(with_db_name(url, "postgres"))
    return psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password or None,
        dbname="postgres",
        autocommit=True,
    )


def child_env(url: str, media: Path, debug: bool) -> dict:
    env = dict(os.environ, DATABASE_URL=url, MEDIA_ROOT=str(media), OPSPORTAL_TESTING="0")
    env.setdefault("Q_SYNC", "1")
    env.setdefault("LOG_LEVEL", "WARNING")  # no audit line per job on the console
    if not debug:
        env["DEBUG"] = "False"
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


# --- the baseline (runs inside a comparison child, Django set up) --------------------------------

# The staging table: one row per order, already normalised.
STAGE = (
    ("rn", "integer"),
    ("inv", "varchar(32)"),
    ("email", "varchar(254)"),
    ("phone", "varchar(20)"),
    ("name", "varchar(255)"),
    ("product", "varchar(255)"),
    ("quantity", "integer"),
    ("total", "numeric(14,2)"),
    ("status", "varchar(20)"),
    ("payment", "varchar(100)"),
    ("created_at", "timestamp with time zone"),
    ("shipping_address", "text"),
    ("courier", "varchar(100)"),
    ("variant", "varchar(255)"),
    ("notes", "text"),
)
PLAIN_MONEY = re.compile(r"\d+(?:\.\d{1,2})?")

# Set-based upserts, the same text on PostgreSQL and SQLite. `WHERE true` keeps SQLite's parser
# from reading ON CONFLICT as a join constraint. Every NOT NULL column is given (Django sets no
# database defaults).
UPSERT_PRODUCTS = """
INSERT INTO imports_product (name, commission_kind)
SELECT DISTINCT product, '' FROM bench_stage WHERE true
ON CONFLICT (name) DO NOTHING
"""
# One member per email, with the name and phone of the email's first order.
UPSERT_MEMBERS = """
INSERT INTO imports_member (email, phone, name, address, "group", referrer_name)
SELECT s.email, s.phone, s.name, '', '', ''
FROM bench_stage s
JOIN (SELECT email, min(rn) AS rn FROM bench_stage WHERE email <> '' GROUP BY email) f
  ON f.rn = s.rn
WHERE true
ON CONFLICT (email) DO NOTHING
"""
# Orders by INV; a buyer by email, else (a deleted WordPress user) by a phone exactly one member
# has; orders with neither are left out, as the importer rejects them.
UPSERT_ORDERS = """
INSERT INTO imports_order (inv, member_id, product_id, quantity, total, status, payment,
                           created_at, shipping_address, courier, variant, notes)
SELECT s.inv, COALESCE(m.id, p.id), pr.id, s.quantity, s.total, s.status, s.payment,
       s.created_at, s.shipping_address, s.courier, s.variant, s.notes
FROM bench_stage s
JOIN imports_product pr ON pr.name = s.product
LEFT JOIN imports_member m ON s.email <> '' AND m.email = s.email
LEFT JOIN (SELECT phone, min(id) AS id FROM imports_member WHERE phone <> ''
           GROUP BY phone HAVING count(*) = 1) p ON s.email = '' AND p.phone = s.phone
WHERE COALESCE(m.id, p.id) IS NOT NULL
ON CONFLICT (inv) DO UPDATE SET
  member_id = excluded.member_id, product_id = excluded.product_id,
  quantity = excluded.quantity, total = excluded.total, status = excluded.status,
  payment = excluded.payment, created_at = excluded.created_at,
  shipping_address = excluded.shipping_address, courier = excluded.courier,
  variant = excluded.variant, notes = excluded.notes
"""


def read_orders(path: Path, adapt_datetime) -> tuple[list[tuple], int]:
    """orders.csv as staging rows; (rows, rejected). Duplicate INVs: the first wins."""
    from imports import normalise as n

    text = path.read_bytes().decode("utf-8")  # fputcsv: UTF-8, no BOM
    start = text.find("INV,")  # PHP notices are glued to the front of the header line
    reader = csv.reader(io.StringIO(text[start:] if start >= 0 else text, newline=""))
    header = next(reader)
    col = {name: i for i, name in enumerate(header)}
    missing = -1  # an absent optional column reads the "" appended to every row
    i_inv, i_email, i_phone, i_name = col["INV"], col["email"], col["phone"], col["name"]
    i_product, i_price, i_status = col["product"], col["price"], col["status"]
    i_date, i_address = col["created_at"], col["address"]
    # absent from older Sejoli versions' orders export
    i_qty, i_pay, i_notes, i_courier, i_variant = (
        col.get(k, missing) for k in ("quantity", "payment", "notes", "courier", "variant")
    )
    statuses: dict[str, str] = {}
    seen: set[str] = set()
    rows, rejected = [], 0

    def txt(value: str, limit: int) -> str:
        value = value.strip()
        return "" if value == "-" else value[:limit]

    for rn, raw in enumerate(reader, 1):
        if len(raw) < len(header):
            raw += [""] * (len(header) - len(raw))
        raw.append("")
        inv = raw[i_inv].strip()
        if not inv or inv in seen:
            rejected += 1
            continue
        try:
            price = raw[i_price].strip()
            total = price if PLAIN_MONEY.fullmatch(price) else n.money(price)
            label = raw[i_status]
            status = statuses.get(label)
            if status is None:
                status = statuses[label] = n.status(label)
            created = n.date(raw[i_date])
        except n.Invalid:
            rejected += 1
            continue
        email = raw[i_email].strip().lower()
        phone = n.phone(raw[i_phone])
        if (not email and not phone) or total is None:
            rejected += 1
            continue
        seen.add(inv)
        qty = raw[i_qty].strip()
        rows.append(
            (
                rn,
                inv,
                email,
                phone,
                raw[i_name].strip()[:255],
                raw[i_product].strip()[:255],
                int(qty) if qty.isdigit() else 1,
                total,
                status,
                txt(raw[i_pay], 100),
                adapt_datetime(created) if created else None,
                txt(raw[i_address], 100_000),
                txt(raw[i_courier], 100),
                txt(raw[i_variant], 255),
                raw[i_notes].strip(),
            )
        )
    return rows, rejected


def baseline(path: Path) -> dict:
    from django.db import connection, transaction

    pg = connection.vendor == "postgresql"
    columns = ", ".join(c for c, _ in STAGE)
    t0 = time.perf_counter()
    adapt = (lambda d: d) if pg else connection.ops.adapt_datetimefield_value
    rows, rejected = read_orders(path, adapt)
    t1 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cols = ", ".join(f"{c} {t}" for c, t in STAGE)
        if not pg:  # rn as the rowid: SQLite joins the first order of each email by it
            cols = cols.replace("rn integer", "rn integer primary key", 1)
        if pg:
            cursor.execute(f"CREATE TEMP TABLE bench_stage ({cols}) ON COMMIT DROP")
            with cursor.cursor.copy(f"COPY bench_stage ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute(f"CREATE TEMP TABLE bench_stage ({cols})")
            marks = ", ".join("?" * len(STAGE))
            insert = f"INSERT INTO bench_stage VALUES ({marks})"  # noqa: S608 -- placeholders
            cursor.cursor.executemany(insert, rows)
        cursor.execute("ANALYZE bench_stage")
        t2 = time.perf_counter()
        steps = {}
        for step, sql in (
            ("products", UPSERT_PRODUCTS),
            ("members", UPSERT_MEMBERS),
            ("orders", UPSERT_ORDERS),
        ):
            t = time.perf_counter()
            cursor.execute(sql)
            steps[step] = round(time.perf_counter() - t, 3)
        if not pg:
            cursor.execute("DROP TABLE bench_stage")
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "parse": t1 - t0,
        "load": t2 - t1,
        "upsert": t3 - t2,
        "rows": len(rows) + rejected,
        "rejected": rejected,
        "steps": steps,
        **counts(),
    }


def counts() -> dict:
    from imports.models import Member, Order, Product

    return {
        "members": Member.objects.count(),
        "products": Product.objects.count(),
        "orders": Order.objects.count(),
    }


def clear_member_tables() -> None:
    """Empty every table an orders import writes, children first; VACUUM on PostgreSQL."""
    from django.db import connection

    from imports import models as m

    order = [
        m.ImportRowChange,
        m.ImportRowError,
        m.ReviewItem,
        m.Commission,
        m.Membership,
        m.Order,
        m.SejoliAccount,
        m.AffiliateProfile,
        m.Product,
        m.Member,
    ]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE imports_member SET referrer_id = NULL")
        for model in order:
            cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 -- a model's table
        if connection.vendor == "postgresql":
            for model in order:
                cursor.execute(f"VACUUM {model._meta.db_table}")
    clear_caches()


def clear_orders() -> None:
    from django.db import connection

    from imports import models as m

    with connection.cursor() as cursor:
        for model in (m.ReviewItem, m.Commission, m.Membership, m.Order):
            cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 -- a model's table


def clear_caches() -> None:
    """Forget the normalisers' memoised values, so no run profits from the one before."""
    from imports import normalise

    for value in vars(normalise).values():
        if callable(getattr(value, "cache_clear", None)):
            value.cache_clear()


# --- the importer --------------------------------------------------------------------------------


def importer(path: Path, batch_size: int) -> dict:
    from imports import services

    data = path.read_bytes()
    t0 = time.perf_counter()
    job = services.job_create(
        actor=None, data=data, name=path.name, batch_size=batch_size, validate="now"
    )
    t1 = time.perf_counter()
    services.job_confirm(actor=None, job=job, enqueue=False)
    job = services.job_apply(job_id=job.pk)
    t2 = time.perf_counter()
    return {
        "seconds": t2 - t0,
        "preview": t1 - t0,
        "apply": t2 - t1,
        "status": job.status,
        "rows": job.total_rows,
        "created": job.created_count,
        "rejected": job.rejected_count,
        **counts(),
    }


def profile_importer(path: Path, batch_size: int, top: int = 30) -> None:
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        importer(path, batch_size)
    finally:
        prof.disable()
    out = Path(tempfile.gettempdir()) / f"imports_bench_{os.getpid()}.prof"
    prof.dump_stats(out)
    prefixes = sorted({str(ROOT) + "/", *(p + "/" for p in sys.path if "-packages" in p)}, key=len)

    def short(func: tuple) -> tuple:  # project and site-packages paths, relative
        filename, line, name = func
        for prefix in reversed(prefixes):
            if filename.startswith(prefix):
                return filename[len(prefix) :], line, name
        return func

    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        stats = pstats.Stats(prof, stream=buf)
        stats.stats = {
            short(func): (cc, nc, tt, ct, {short(c): v for c, v in callers.items()})
            for func, (cc, nc, tt, ct, callers) in stats.stats.items()
        }
        stats.sort_stats(key).print_stats(top)
        lines = buf.getvalue().splitlines()
        first = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
        print(f"-- importer profile, top {top} by {key} (full profile: {out})")
        print("\n".join(lines[first:]).rstrip())
        if key == "tottime":  # the same time summed per source file: which layer it goes to
            per_file: dict[str, float] = {}
            for (filename, _, name), (_, _, tt, _, _) in stats.stats.items():
                where = filename if filename != "~" else name.split(" of ")[0].strip("<>")
                per_file[where] = per_file.get(where, 0.0) + tt
            total = sum(per_file.values())
            print(f"-- importer profile, own time per source file (total {total:.1f}s)")
            for where, tt in sorted(per_file.items(), key=lambda kv: -kv[1])[:20]:
                print(f"{tt:8.2f}s {tt / total:5.1%}  {where}")


def plain_resource(path: Path, limit: int) -> dict:
    """The same orders through a plain django-import-export ModelResource (default settings)."""
    import tablib

    from imports import normalise as n

    try:
        from imports.resources import OrderResource
    except ImportError as exc:
        print(f"plain ModelResource: not available ({exc})")
        return {"rows": 0, "seconds": 0.0, "errors": True}

    headers = ["inv", "email", "product", "quantity", "total", "status", "payment", "created_at"]
    dataset = tablib.Dataset(headers=headers)
    text = path.read_bytes().decode("utf-8")
    for raw in csv.DictReader(io.StringIO(text[text.find("INV,") :], newline="")):
        if not raw["email"]:
            continue
        created = raw["created_at"] if n.date(raw["created_at"]) else ""
        email, qty = raw["email"].strip().lower(), raw.get("quantity") or 1
        total, status = n.money(raw["price"]), n.status(raw["status"])
        dataset.append(
            [raw["INV"], email, raw["product"], qty, total, status, raw.get("payment", ""), created]
        )
        if len(dataset) >= limit:
            break
    t0 = time.perf_counter()
    result = OrderResource().import_data(dataset, dry_run=False)
    seconds = time.perf_counter() - t0
    return {"rows": len(dataset), "seconds": seconds, "errors": result.has_errors()}


# --- a comparison child --------------------------------------------------------------------------


def compare_child(args) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    path = Path(args.compare_file)
    vendor = connection.vendor
    t0 = time.perf_counter()
    if vendor == "postgresql":
        old_name = connection.settings_dict["NAME"]
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"test_imports_bench_{os.getpid()}"
        )
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    else:
        call_command("migrate", verbosity=0)
    print(f"[{vendor}] database ready in {time.perf_counter() - t0:.1f}s (not timed)", flush=True)
    result: dict = {"vendor": vendor, "version": db_version()}
    try:
        for attempt in range(1, args.repeat + 1):
            # Same starting state for both: empty member tables, cold normaliser caches.
            clear_member_tables()
            b = baseline(path)
            print_baseline(vendor, attempt, b)
            if b["seconds"] < result.get("baseline", {}).get("seconds", float("inf")):
                result["baseline"] = b
            clear_member_tables()
            try:
                r = importer(path, args.batch_size)
            except Exception as exc:  # the engine is being rewritten: report, keep the baseline
                result["importer_error"] = f"{type(exc).__name__}: {exc}"[:500]
                print(f"[{vendor}] importer FAILED: {result['importer_error']}", flush=True)
                break
            print_importer(vendor, attempt, r)
            if r["seconds"] < result.get("importer", {}).get("seconds", float("inf")):
                result["importer"] = r
        if "importer" in result:
            ratio = result["ratio"] = result["importer"]["seconds"] / result["baseline"]["seconds"]
            best = f"best of {args.repeat}: " if args.repeat > 1 else ""
            verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"
            print(
                f"[{vendor}] {best}importer / baseline = {ratio:.1f}x "
                f"(goal <= {GOAL_RATIO:.0f}x): {verdict}",
                flush=True,
            )
            if args.profile:
                clear_member_tables()
                profile_importer(path, args.batch_size)
        if args.plain_rows > 0 and "importer" in result:
            # As a user would: members and products are there (the importer's), orders are not.
            clear_orders()
            p = result["plain"] = plain_resource(path, args.plain_rows)
            if p["rows"]:
                print(
                    f"[{vendor}] plain ModelResource: {p['rows']:,} rows in {p['seconds']:.1f}s "
                    f"= {p['rows'] / p['seconds']:,.0f} rows/s (errors: {p['errors']})",
                    flush=True,
                )
    finally:
        if vendor == "postgresql":
            connection.creation.destroy_test_db(old_name, verbosity=0)
    print(RESULT + json.dumps(result), flush=True)


def print_baseline(vendor: str, attempt: int, b: dict) -> None:
    load = "COPY" if vendor == "postgresql" else "executemany"
    steps = ", ".join(f"{k} {v:.2f}s" for k, v in b["steps"].items())
    print(
        f"[{vendor}] #{attempt} baseline: {b['seconds']:.2f}s for {b['rows']:,} rows "
        f"({b['rows'] / b['seconds']:,.0f} rows/s; parse+normalise {b['parse']:.2f}s, "
        f"{load} {b['load']:.2f}s, upserts {b['upsert']:.2f}s = {steps} + commit) "
        f"-> members={b['members']:,} products={b['products']} orders={b['orders']:,} "
        f"(left out {b['rejected']})",
        flush=True,
    )


def print_importer(vendor: str, attempt: int, r: dict) -> None:
    print(
        f"[{vendor}] #{attempt} importer: {r['seconds']:.2f}s for {r['rows']:,} rows "
        f"({r['rows'] / r['seconds']:,.0f} rows/s; preview {r['preview']:.2f}s, "
        f"apply {r['apply']:.2f}s) status={r['status']} -> members={r['members']:,} "
        f"products={r['products']} orders={r['orders']:,} (rejected {r['rejected']})",
        flush=True,
    )


def db_version() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0].split()[0]
    return "SQLite " + sqlite3.sqlite_version


def run_compare(url: str, path: Path, args, media: Path) -> dict | None:
    cmd = [sys.executable, __file__, "--compare-file", str(path)]
    cmd += ["--batch-size", str(args.batch_size), "--plain-rows", str(args.plain_rows)]
    cmd += ["--repeat", str(args.repeat)]
    if args.profile:
        cmd.append("--profile")
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=child_env(url, media, args.debug), stdout=subprocess.PIPE, text=True
    )
    result = None
    for line in proc.stdout:
        if line.startswith(RESULT):
            result = json.loads(line[len(RESULT) :])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0:
        print(f"comparison child exited with {proc.returncode}")
    return result


# --- the full migration --------------------------------------------------------------------------


def run_migration(kind: str, base_url: str, folder: Path, args, tmp: Path) -> dict:
    label = "PostgreSQL" if kind == "postgresql" else "SQLite"
    if kind == "postgresql":
        name = f"imports_bench_migration_{os.getpid()}"
        url = with_db_name(base_url, name)
        with pg_admin(base_url) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    else:
        db = tmp / "migration.sqlite3"
        for leftover in tmp.glob(db.name + "*"):  # a fresh database for every run
            leftover.unlink()
        url = f"sqlite:///{db}"
    media = tmp / f"media-migration-{kind}"
    env = child_env(url, media, args.debug)
    out: dict = {"database": label}
    try:
        migrate = [sys.executable, str(MANAGE), "migrate", "-v0"]
        if subprocess.run(migrate, cwd=ROOT, env=env).returncode:
            out.update(wall=0.0, peak_mb=0.0, exit=-1, error=["manage.py migrate failed"])
            print_migration(out)
            return out
        paths = [str(folder / f) for f in MIGRATION_FILES]
        cmd = [sys.executable, str(MANAGE), "import_sejoli", *paths, "--json"]
        cmd += ["--batch-size", str(args.batch_size)]
        stdout, stderr = tmp / f"migration-{kind}.out", tmp / f"migration-{kind}.err"
        with stdout.open("w") as o, stderr.open("w") as e:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=o, stderr=e)
            _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS
            wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.update(wall=wall, peak_mb=usage.ru_maxrss / 1024, exit=proc.returncode, files=[])
        for line in stdout.read_text().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if not isinstance(item, dict):
                continue
            if "totals" in item:
                out["totals"] = item["totals"]
            elif "file" in item:
                out["files"].append(item)
        if proc.returncode != 0:
            out["error"] = stderr.read_text().strip().splitlines()[-1:] or ["?"]
    finally:
        if kind == "postgresql":
            with pg_admin(base_url) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(media, ignore_errors=True)
    print_migration(out)
    return out


def print_migration(m: dict) -> None:
    db = m["database"]
    for f in m.get("files", []):
        rate = f["rows"] / f["seconds"] if f["seconds"] else 0
        print(
            f"[{db}] {f['file']:18} kind={f['kind']:14} rows={f['rows']:7,} "
            f"{f['seconds']:6.2f}s ({rate:8,.0f} rows/s) status={f['status']} "
            f"rejected={len(f.get('rejected', []))}"
        )
    if "totals" in m:
        print(f"[{db}] totals: {json.dumps(m['totals'])}")
    if m.get("exit"):
        print(f"[{db}] import_sejoli FAILED (exit {m['exit']}): {' '.join(m['error'])}")
    spent = sum(f["seconds"] for f in m.get("files", []))
    ok = not m.get("exit") and m["wall"] < GOAL_SECONDS and m["peak_mb"] < GOAL_MB
    print(
        f"[{db}] full migration: {m['wall']:.1f}s wall clock (files' own seconds {spent:.1f}s, "
        f"start-up + previews {m['wall'] - spent:.1f}s), peak RSS {m['peak_mb']:.0f} MB "
        f"(goal < {GOAL_SECONDS:.0f} s, < {GOAL_MB:.0f} MB): {'PASS' if ok else 'FAIL'}"
    )


# --- the parent ----------------------------------------------------------------------------------


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--orders", type=int, default=90_000, help="orders of the migration set")
    p.add_argument("--compare-orders", type=int, default=100_000, help="orders of the comparison")
    p.add_argument("--dir", help="use (or generate into) this one set for both parts")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--skip-migration", action="store_true")
    p.add_argument("--skip-baseline", action="store_true", help="skip the orders comparison")
    p.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    p.add_argument("--repeat", type=int, default=1, help="runs of each part; the best counts")
    p.add_argument("--profile", action="store_true", help="cProfile the importer once more")
    p.add_argument("--plain-rows", type=int, default=0, help="plain ModelResource on N orders")
    p.add_argument("--debug", action="store_true", help="keep the environment's DEBUG")
    p.add_argument("--compare-file", help=argparse.SUPPRESS)  # internal: a comparison child
    args = p.parse_args()
    if args.compare_file:
        return compare_child(args)

    base_url = os.environ.get("DATABASE_URL", "")
    kinds = (["postgresql"] if base_url.startswith(("postgres", "pgsql")) else []) + (
        [] if args.no_sqlite else ["sqlite"]
    )
    if not kinds:
        sys.exit("nothing to run: DATABASE_URL is not postgres and --no-sqlite was given")
    tmp = Path(tempfile.mkdtemp(prefix="imports-bench-"))
    compares, migrations = {}, {}
    try:
        if args.dir:
            compare_dir = migration_dir = ensure_files(Path(args.dir), args.orders)
        else:
            compare_dir = ensure_files(tmp / f"sejoli-{args.compare_orders}", args.compare_orders)
            migration_dir = (
                compare_dir
                if args.orders == args.compare_orders
                else ensure_files(tmp / f"sejoli-{args.orders}", args.orders)
            )
        if not args.skip_baseline:
            for kind in kinds:
                url = base_url if kind == "postgresql" else f"sqlite:///{tmp / 'compare.sqlite3'}"
                print(f"== orders comparison on {kind}: {compare_dir / 'orders.csv'}", flush=True)
                compares[kind] = run_compare(url, compare_dir / "orders.csv", args, tmp / "media")
        if not args.skip_migration:
            for kind in kinds:
                for attempt in range(1, args.repeat + 1):
                    print(f"== full migration #{attempt} on {kind}: {migration_dir}", flush=True)
                    m = run_migration(kind, base_url, migration_dir, args, tmp)
                    best = migrations.get(kind)
                    better = best is None or best.get("exit") or m["wall"] < best["wall"]
                    if better and not (best and m.get("exit")):
                        migrations[kind] = m
        summary(args, compare_dir, migration_dir, compares, migrations)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    broken = [k for k, c in compares.items() if not c or "importer" not in c]
    broken += [k for k, m in migrations.items() if m.get("exit")]
    if broken:  # a goal missed is a figure; a run that could not finish is a failure
        sys.exit(f"could not finish: {', '.join(sorted(set(broken)))}")


def summary(args, compare_dir: Path, migration_dir: Path, compares: dict, migrations: dict):
    print(f"\n== summary ({date.today():%Y-%m-%d}, {os.cpu_count()} cores)")
    if compares:
        print(f"Orders comparison ({compare_dir.name}/orders.csv, empty member tables):")
        print("| database | baseline (COPY/executemany + upserts) | importer (preview + apply) "
              "| importer / baseline | goal ≤ 4× |")  # fmt: skip
        print("|---|---:|---:|---:|---|")
        for c in compares.values():
            if not c:
                continue
            b, r = c["baseline"], c.get("importer")
            base = f"{b['seconds']:.2f} s ({b['rows'] / b['seconds']:,.0f} rows/s)"
            if r:
                imp = f"{r['seconds']:.2f} s ({r['rows'] / r['seconds']:,.0f} rows/s)"
                ratio = f"{c['ratio']:.1f}×"
                ok = "pass" if c["ratio"] <= GOAL_RATIO else "FAIL"
            else:
                imp, ratio, ok = "failed", "–", c.get("importer_error", "")[:60]
            print(f"| {c['version']} | {base} | {imp} | {ratio} | {ok} |")
        for c in compares.values():
            if c and c.get("plain", {}).get("rows"):
                p = c["plain"]
                print(
                    f"{c['version']}: plain django-import-export ModelResource, {p['rows']:,} "
                    f"orders with members and products in place: {p['rows'] / p['seconds']:,.0f}"
                    " rows/s"
                )
    if migrations:
        names = [f.removesuffix(".csv") for f in MIGRATION_FILES]
        print(f"Full migration ({migration_dir.name}: `import_sejoli` on the five files, --json):")
        goal = f"goal < {GOAL_SECONDS:.0f} s, < {GOAL_MB:.0f} MB"
        print("| database | wall clock | " + " | ".join(names) + f" | peak RSS | {goal} |")
        print("|---|---:|" + "---:|" * len(names) + "---:|---|")
        for m in migrations.values():
            secs = {f["file"]: f"{f['seconds']:.1f} s" for f in m.get("files", [])}
            ok = not m.get("exit") and m["wall"] < GOAL_SECONDS and m["peak_mb"] < GOAL_MB
            verdict = "pass" if ok else f"failed (exit {m['exit']})" if m.get("exit") else "FAIL"
            cells = " | ".join(secs.get(f, "–") for f in MIGRATION_FILES)
            wall = "–" if m.get("exit") else f"{m['wall']:.1f} s"
            peak = f"{m['peak_mb']:.0f} MB"
            print(f"| {m['database']} | {wall} | {cells} | {peak} | {verdict} |")


if __name__ == "__main__":
    main()
