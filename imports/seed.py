"""Members at scale for benchmarks and manual tests (`manage.py seed_scale --members N`).

The data goes in the way real data does: a synthetic Sejoli export (users, orders,
subscriptions) is written in memory and imported through the job services, so the seeded
database holds real import jobs (with their rejected rows, checkpoints and audit events) next
to the members they created. Running it again adds a new cohort after the existing ids.
"""

import csv
import io
import random
from datetime import datetime, timedelta

from django.db.models import Max

from . import services
from .models import ImportJob, SejoliAccount

FIRST = "Adi Agus Ayu Bayu Budi Citra Dewi Dian Eko Fajar Fitri Gita Hadi Indah Joko Lina"
FIRST = (*FIRST.split(" "), "Made", "Nanda", "Putri", "Rina", "Rizky", "Sari", "Wahyu", "Yuni")
LAST = "Halim Harahap Hidayat Kusuma Lestari Lubis Nasution Pratama Putra Saputra Siregar"
LAST = (*LAST.split(" "), "Susanto", "Utami", "Wijaya", "Gunawan", "Santoso", "Wibowo")
USERS = ["User ID", "name", "email", "phone", "address", "affiliate", "group"]
ORDERS = "INV product created_at name email phone quantity price status affiliate affiliate_id"
ORDERS = [*ORDERS.split(" "), "address", "payment", "courier", "variant", "notes"]
SUBSCRIPTIONS = "INV product created_at name email phone expired_date expired_day renewal_link"
SUBSCRIPTIONS = SUBSCRIPTIONS.split(" ")
DOMAINS = ("gmail.com", "yahoo.co.id", "ymail.com", "outlook.com", "mail.id")
STATUSES = ("Selesai",) * 16 + ("Menunggu Pembayaran", "Batal", "Refund", "Pesanan Diproses")
PAYMENTS = ("Moota - BCA", "Xendit - QRIS", "Xendit - OVO", "Transfer Mandiri")
BAD_EMAIL_EVERY = 200  # one user row in 200 has a broken email, so the job has rejected rows
AFFILIATE_POOL = 200
INV_BASE = 10_000_000
# The synthetic shop's product settings, imported first as products.csv as a team would:
# (Sejoli product id, name, price, commission, access days or None for one-time products).
PRODUCTS = (
    (11, "Kelas Ekspor Pemula", 299000, "20%", None),
    (12, "Membership Eksporyuk 1 Tahun", 1500000, "25%", 365),
    (13, "Membership Eksporyuk 6 Bulan", 899000, "Rp. 150.000", 182),
    (14, "Webinar Buyer Global", 99000, "10%", None),
    (15, "Mentoring Privat Ekspor", 4750000, "Rp. 500.000", None),
)


def _csv(header: list[str], rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def sejoli_export(count: int, *, first_user_id: int, first_inv: int, seed: int) -> dict:
    """``count`` users with about as many orders (some subscriptions) as Sejoli CSV bytes."""
    rng = random.Random(seed)
    people = []
    users = []
    for i in range(count):
        uid = first_user_id + i
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}{uid}@{rng.choice(DOMAINS)}".lower()
        phone = f"08{rng.choice((11, 12, 13, 52, 57, 77))}{rng.randrange(10**7, 10**8)}"
        if uid % BAD_EMAIL_EVERY == 0:
            email = f"{first.lower()}.{last.lower()}{uid}@"
        else:
            people.append((uid, f"{first} {last}", email, phone))
        users.append([uid, f"{first} {last}", email, phone, "-", "-", "Member"])
    affiliates = people[:AFFILIATE_POOL]
    orders, subscriptions = [], []
    start = datetime(2025, 1, 1, 8, 0)
    for i in range(count if people else 0):
        inv = first_inv + i
        uid, name, email, phone = rng.choice(people)
        _pid, product, price, _commission, days = rng.choice(PRODUCTS)
        created = start + timedelta(minutes=rng.randrange(0, 600_000))
        aff_id, aff_name = ("0", "")
        if rng.random() < 0.15:
            aff = rng.choice(affiliates)
            aff_id, aff_name = str(aff[0]), aff[1]
        orders.append(
            [inv, product, created.strftime("%Y-%m-%d %H:%M:%S"), name, email, phone, 1,
             f"{price:.2f}", rng.choice(STATUSES), aff_id, aff_name, "-",
             rng.choice(PAYMENTS), "-", "-", ""]
        )  # fmt: skip
        if days:
            expires = created + timedelta(days=days)
            subscriptions.append(
                [inv, product, created.strftime("%Y-%m-%d %H:%M:%S"), name, email, phone,
                 expires.strftime("%Y-%m-%d %H:%M:%S"), days, ""]
            )  # fmt: skip
    return {
        "products.csv": _csv(
            ["product_id", "product", "price", "commission", "access_days"],
            [
                [pid, name, f"{price:.2f}", commission, days or ""]
                for pid, name, price, commission, days in PRODUCTS
            ],
        ),
        "users.csv": _csv(USERS, users),
        "orders.csv": _csv(ORDERS, orders),
        "subscriptions.csv": _csv(SUBSCRIPTIONS, subscriptions),
    }


def seed_members(
    count: int, *, actor, operators: list = (), stdout, batch_size: int = 5000
) -> list[ImportJob]:
    """Import ``count`` new members, about ``count`` orders and their subscriptions."""
    first_user_id = (SejoliAccount.objects.aggregate(m=Max("user_id"))["m"] or 0) + 1
    # Cohorts never overlap: user ids continue after the last one, invoices follow them.
    files = sejoli_export(
        count, first_user_id=first_user_id, first_inv=INV_BASE + first_user_id, seed=first_user_id
    )
    jobs = []
    for name, data in files.items():
        job = services.job_create(
            actor=actor,
            data=data,
            name=f"scale-{first_user_id}-{name}",
            batch_size=batch_size,
            validate="now",
        )
        services.job_confirm(actor=actor, job=job, enqueue=False)
        job = services.job_apply(job_id=job.pk)
        stdout.write(
            f"  {name}: job #{job.pk} {job.status}, {job.created_count:,} created, "
            f"{job.rejected_count:,} rejected in {job.seconds:.1f} s"
        )
        jobs.append(job)
    return jobs
