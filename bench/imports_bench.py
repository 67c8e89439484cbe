"""Benchmark: a 100,000-order Sejoli export imported end to end, against a plain
django-import-export ModelResource on the same orders.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/opsportal python bench/imports_bench.py \
        [--orders 100000] [--dir DIR] [--batch-size 1000] [--plain-rows N]

Needs the generator (../shared/tools/make_sejoli_export.py) unless --dir holds generated files.
Runs in a throwaway test database (``test_<name>``), created and dropped here.
"""

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsportal.settings")
os.environ.setdefault("OPSPORTAL_TESTING", "0")
os.environ.setdefault("Q_SYNC", "1")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--orders", type=int, default=100_000)
    p.add_argument("--dir")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--trace", action="store_true", help="print seconds per batch")
    p.add_argument("--plain-rows", type=int, default=0, help="0 = all orders, -1 = skip")
    args = p.parse_args()

    folder = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="sejoli-bench-"))
    if not (folder / "orders.csv").exists():
        tool = ROOT.parent / "shared" / "tools" / "make_sejoli_export.py"
        if not tool.exists():
            sys.exit(f"no files in {folder} and no generator at {tool}")
        subprocess.run([sys.executable, str(tool), "--out", str(folder), "--orders",
                        str(args.orders)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="sejoli-media-"))
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        run(folder, args)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run(folder: Path, args) -> None:
    from django.db import connection

    from imports import engine, services
    from imports.models import Commission, ImportJob, Membership, Order, ReviewItem

    print(f"database: {connection.vendor}  files: {folder}")
    figures = {}
    start_all = time.perf_counter()
    for name in ("users.csv", "orders.csv", "commissions.csv", "subscriptions.csv"):
        data = (folder / name).read_bytes()
        t0 = time.perf_counter()
        job = services.job_create(actor=None, data=data, name=name, batch_size=args.batch_size,
                                  validate="now")  # fmt: skip
        t1 = time.perf_counter()
        services.job_confirm(actor=None, job=job, enqueue=False)
        job = services.job_apply(job_id=job.pk)
        t2 = time.perf_counter()
        figures[name] = (job.total_rows, t1 - t0, t2 - t1)
        n = job.total_rows
        print(f"{name:18} rows={n:7} validate={t1 - t0:6.2f}s apply={t2 - t1:6.2f}s "
              f"({n / (t2 - t1):8.0f} rows/s apply, {n / (t2 - t0):8.0f} rows/s upload→done) "
              f"status={job.status}")  # fmt: skip
    total = time.perf_counter() - start_all
    rows, validate, apply = figures["orders.csv"]
    print(
        f"orders end to end (validate + apply): {rows / (validate + apply):.0f} rows/s;"
        f" apply only: {rows / apply:.0f} rows/s"
    )
    print(f"all four files: {total:.1f}s; peak RSS so far {peak_mb():.0f} MB")
    print("totals:", engine.totals())
    ours = rows / (validate + apply)

    # Re-import: nothing to do.
    t0 = time.perf_counter()
    job = services.job_create(actor=None, data=(folder / "orders.csv").read_bytes(),
                              name="orders.csv", validate="now")  # fmt: skip
    services.job_confirm(actor=None, job=job, enqueue=False)
    job = services.job_apply(job_id=job.pk)
    print(f"re-import orders: created={job.created_count} unchanged={job.unchanged_count} "
          f"in {time.perf_counter() - t0:.1f}s")  # fmt: skip

    if args.plain_rows < 0:
        return
    # The same orders through a plain django-import-export ModelResource, default settings.
    import tablib

    from imports import normalise as n
    from imports.resources import OrderResource

    Membership.objects.all().delete()
    ReviewItem.objects.all().delete()
    Commission.objects.all().delete()
    Order.objects.all().delete()
    ImportJob.objects.all().delete()
    dataset = tablib.Dataset(headers=["inv", "email", "product", "quantity", "total", "status",
                                      "payment", "created_at"])  # fmt: skip
    text = (folder / "orders.csv").read_text()
    text = text[text.index("INV,") :]
    for raw in csv.DictReader(text.splitlines(keepends=True)):
        if not raw["email"]:
            continue
        created = n.date(raw["created_at"])
        dataset.append([raw["INV"], raw["email"].strip().lower(), raw["product"],
                        raw.get("quantity") or 1, n.money(raw["price"]), n.status(raw["status"]),
                        raw.get("payment", ""), raw["created_at"] if created else ""])  # fmt: skip
        if args.plain_rows and len(dataset) >= args.plain_rows:
            break
    t0 = time.perf_counter()
    result = OrderResource().import_data(dataset, dry_run=False)
    plain_seconds = time.perf_counter() - t0
    plain = len(dataset) / plain_seconds
    print(
        "plain result totals:",
        dict(result.totals),
        [(r.number, r.error) for r in result.invalid_rows[:1]] if result.invalid_rows else "",
        [str(e.error) for e in result.base_errors[:1]],
    )
    print(f"plain ModelResource: {len(dataset)} rows in {plain_seconds:.1f}s = {plain:.0f} rows/s"
          f" (errors: {result.has_errors()}, orders now {Order.objects.count()})")  # fmt: skip
    print(f"speed-up end to end: {ours / plain:.1f}x; peak RSS {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
