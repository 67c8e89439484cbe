"""Fault drills for the import pipeline, with real ``qcluster`` subprocesses on PostgreSQL.

1. The database restarts while a worker applies a job: the job continues from its checkpoint
   (nothing lost, nothing doubled), the worker survives and keeps taking tasks, and the tables
   equal those of an uninterrupted import. The restart is real (``pg_ctl restart``) on a private
   cluster holding a copy of the test database, so the rest of the suite is not disturbed.
2. Two qcluster processes work the same queue: several jobs at once plus duplicate deliveries of
   the same job's apply task; every batch is applied exactly once.
"""

import csv
import io
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count
from django_q.conf import Conf
from django_q.models import OrmQ, Task
from django_q.tasks import async_task

from imports import services
from imports.choices import JobStatus
from imports.models import ImportJob, ImportRowChange, Order
from opsportal.audit.chain import verify_chain
from opsportal.audit.models import AuditEvent
from tests.imports.conftest import table_state
from tests.imports.factories import MESSY, MESSY_ORDERS, apply_file, make_job

from . import pg_cluster
from .qcluster_procs import start_worker, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
APPLY = "imports.tasks.apply_job"
LAST_JOB_DELIVERIES = 4


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def workers(tmp_path):
    """``workers(**kw)`` starts a qcluster (logging to tmp_path); all are killed at teardown."""
    started = []

    def start(**kw):
        worker = start_worker(log=tmp_path / f"qcluster-{len(started) + 1}.log", **kw)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def private_database(postgres_only):
    """The test database copied into a private PostgreSQL cluster, and this process's default
    connection pointed at it until teardown (before pytest-django flushes the real one)."""
    reason = pg_cluster.unavailable()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster: {reason}")
    cluster = pg_cluster.PrivateCluster()
    settings_dict = connection.settings_dict
    saved = {key: settings_dict[key] for key in ("HOST", "PORT")}
    try:
        cluster.start()
        connection.close()
        cluster.copy_database(dict(settings_dict), settings_dict["NAME"])
        settings_dict.update(HOST="127.0.0.1", PORT=str(cluster.port))
        yield cluster
    finally:
        connection.close()
        settings_dict.update(saved)
        cluster.destroy()


def reachable(predicate):
    """``predicate`` for ``wait_for`` that counts a lost connection as "not yet" (and drops it,
    so the next poll reconnects)."""

    def poll():
        try:
            return predicate()
        except (OperationalError, InterfaceError):
            connection.close()
            return False

    return poll


def job_now(job) -> ImportJob:
    return ImportJob.objects.get(pk=job.pk)


def figures(job) -> tuple:
    return (
        job.total_rows,
        job.processed_rows,
        job.created_count,
        job.updated_count,
        job.unchanged_count,
        job.rejected_count,
    )


def audit_actions(job) -> Counter:
    return Counter(AuditEvent.objects.filter(job_id=job.pk).values_list("action", flat=True))


def change_log(jobs) -> Counter:
    """(model, op) counts of the change log: what the jobs created and updated, once each."""
    return Counter(
        ImportRowChange.objects.filter(job__in=jobs).values_list("model", "op").order_by()
    )


def assert_each_row_changed_once(jobs) -> None:
    doubled = list(
        ImportRowChange.objects.filter(job__in=jobs)
        .values("job", "model", "object_pk")
        .annotate(n=Count("id"))
        .filter(n__gt=1)[:5]
    )
    assert not doubled, f"rows logged twice by one job: {doubled}"


def assert_chain_intact() -> None:
    result = verify_chain(in_processes=False)
    assert result.ok, f"audit chain broken: {result.broken}"


def split_orders(source: Path, folder: Path, parts: int) -> list[Path]:
    """Deal an orders export round-robin into ``parts`` files: every file has its own orders
    but shares buyers, affiliates and products with the others, so jobs applying them at once
    create the same members, affiliates and products. Each buyer's details (and each
    affiliate's name) are made the same on all its rows, so which job creates a row first
    cannot change what it holds."""
    text = source.read_text(encoding="utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    at = {name.rsplit(".", 1)[-1]: i for i, name in enumerate(header)}
    buyers: dict[str, list] = {}
    affiliates: dict[str, str] = {}
    for row in rows:
        key = row[at["email"]].strip().lower()
        if key:
            first = buyers.setdefault(key, [row[at[f]] for f in ("name", "phone", "address")])
            row[at["name"]], row[at["phone"]], row[at["address"]] = first
        aff_id, aff_name = row[at["affiliate"]], row[at["affiliate_id"]]
        if aff_id.strip().isdigit() and aff_id.strip() != "0":
            row[at["affiliate_id"]] = affiliates.setdefault(aff_id.strip(), aff_name)
    paths = []
    for i in range(parts):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows[i::parts])
        path = folder / f"orders-part{i + 1}.csv"
        path.write_text(out.getvalue(), encoding="utf-8")
        paths.append(path)
    return paths


def state_of_tables() -> dict:
    """``table_state()``, except that the two members of a possible-duplicate review are named
    in a fixed order (the engine names the older row first: creation order, not content)."""
    state = table_state()
    reviews = []
    for kind, summary, status in state["reviews"]:
        if kind == "duplicate_member" and " and " in summary and " share " in summary:
            pair, phone = summary.rsplit(" share ", 1)
            summary = " and ".join(sorted(pair.split(" and ", 1))) + " share " + phone
        reviews.append((kind, summary, status))
    return {**state, "reviews": sorted(reviews)}


def waiting_on_locks() -> int:
    """Backends of this database waiting for a lock (row locks: another transaction holds it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


# --- drill 1: the database restarts while a worker applies a job ------------------------------
def test_database_restart_mid_apply_continues_from_the_checkpoint(
    private_database, user_factory, workers, monkeypatch
):
    op = user_factory("operator")
    apply_file(op, MESSY / "users.csv")
    job = make_job(op, MESSY / "orders.csv", batch_size=20)  # 30 batches
    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue for real, on the imports cluster
    worker = workers(batch_pause=0.15, env={"IMPORTS_DB_WAIT": "60"})
    worker.wait_ready()

    services.job_confirm(actor=op, job=job)
    assert wait_for(lambda: job_now(job).checkpoint >= 5, 60), worker.tail()
    private_database.restart(mode="fast")  # every connection is cut, ours too
    connection.close()
    assert wait_for(reachable(lambda: job_now(job).status == JobStatus.COMPLETED), 120), (
        f"{job_now(job).status} at {job_now(job).checkpoint}\n{worker.tail()}"
    )

    done = job_now(job)
    assert done.checkpoint == 30 and done.error == ""
    created, rejected = MESSY_ORDERS["importable"], len(MESSY_ORDERS["rejected_inv"])
    assert figures(done) == (600, 600, created, 0, 0, rejected)
    assert Order.objects.count() == created == Order.objects.filter(job=done).count()
    assert_each_row_changed_once([done])
    actions = audit_actions(done)
    assert actions["import.job.started"] == 1 and actions["import.job.completed"] == 1
    assert actions["import.job.failed"] == 0
    interruptions = AuditEvent.objects.filter(job_id=done.pk, action="import.job.interrupted")
    assert interruptions.count() == 1, worker.tail(80)
    interrupted = interruptions.get()
    assert 5 <= interrupted.changes["checkpoint"] < 30
    assert interrupted.actor_label == f"system on behalf of {op.username}"
    assert interrupted.message.startswith("Database connection lost (OperationalError: ")

    # the task itself ended well, its result saved by a monitor that survived the restart
    def runs():
        return [t.success for t in Task.objects.filter(func=APPLY) if t.args == (done.pk,)]

    assert wait_for(runs, 30), worker.tail()
    assert runs() == [True]
    after_restart = state_of_tables()

    # The same worker keeps taking tasks: it rolls the job back, then applies the same file
    # again, uninterrupted, to the same tables.
    services.job_rollback(actor=op, job=done, reason="restart drill")
    assert wait_for(reachable(lambda: job_now(job).status == JobStatus.ROLLED_BACK), 60), (
        worker.tail()
    )
    assert Order.objects.count() == 0
    clean = make_job(op, MESSY / "orders.csv", batch_size=1000)
    services.job_confirm(actor=op, job=clean)
    assert wait_for(lambda: job_now(clean).status == JobStatus.COMPLETED, 60), worker.tail()
    assert figures(job_now(clean)) == figures(done)
    assert state_of_tables() == after_restart
    assert_chain_intact()
    assert worker.proc.poll() is None, worker.tail()


# --- drill 2: two qcluster processes, one queue ------------------------------------------------
def test_two_workers_on_one_queue_apply_each_batch_once(
    postgres_only, user_factory, workers, tmp_path, monkeypatch
):
    op = user_factory("operator")
    files = split_orders(MESSY / "orders.csv", tmp_path, parts=3)
    # The shop's product settings first, as a migration loads them: commissions get their
    # amounts at once (no "needs a setting" review item rewritten by whichever job ends last).
    apply_file(op, MESSY / "products.csv")

    # The uninterrupted reference: each file applied in turn, inline; then rolled back exactly.
    before = state_of_tables()
    reference = [apply_file(op, path, batch_size=10) for path in files]
    assert [j.status for j in reference] == [JobStatus.COMPLETED] * 3
    expected_state = state_of_tables()
    expected_figures = [figures(j) for j in reference]
    expected_changes = change_log(reference)
    assert sum(Order.objects.filter(job=j).count() for j in reference) == MESSY_ORDERS["importable"]
    for job in reversed(reference):
        services.job_rollback(actor=op, job=job, reason="reference run")
        assert job_now(job).status == JobStatus.ROLLED_BACK
    assert state_of_tables() == before

    jobs = [make_job(op, path, batch_size=10) for path in files]
    monkeypatch.setattr(Conf, "SYNC", False)  # enqueue for real, on the imports cluster
    one_worker = {"Q_IMPORT_WORKERS": "1"}
    first = workers(batch_pause=0.1, env=one_worker)
    second = workers(batch_pause=0.1, env=one_worker)
    first.wait_ready()
    second.wait_ready()

    def settled(some) -> bool:
        done = ImportJob.objects.filter(pk__in=[j.pk for j in some], status=JobStatus.COMPLETED)
        # the imports queue drained (notifications of the jobs wait on the default cluster)
        imports_queue = OrmQ.objects.filter(key=settings.IMPORTS_CLUSTER)
        return done.count() == len(some) and not imports_queue.exists()

    def explain() -> str:
        states = [(j.pk, j.status, j.checkpoint, j.error) for j in map(job_now, jobs)]
        return f"jobs: {states}\n{first.tail()}\n---\n{second.tail()}"

    # Phase 1: two jobs confirmed at once on empty tables, each with a duplicate delivery of
    # its apply task: both workers create the same members, affiliates and products.
    with transaction.atomic():
        for job in jobs[:2]:
            services.job_confirm(actor=op, job=job)
        for job in jobs[:2]:
            async_task(APPLY, job.pk, cluster=settings.IMPORTS_CLUSTER)
    assert wait_for(lambda: settled(jobs[:2]), 120), explain()

    # Phase 2: four deliveries of the third job's apply task, held at the job row until both
    # workers are inside it, so they contend for the same job's batches rather than take
    # turns. (A one-worker cluster holds at most three tasks: one running, one in its local
    # queue, one its pusher waits to put there; the fourth reaches the other process.)
    last = jobs[2]
    services.job_confirm(actor=op, job=last, enqueue=False)
    db = connection.settings_dict
    holder = psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db.get("PASSWORD") or None, dbname=db["NAME"],
    )  # fmt: skip
    try:
        holder.execute("SELECT id FROM imports_importjob WHERE id = %s FOR UPDATE", [last.pk])
        with transaction.atomic():
            for _ in range(LAST_JOB_DELIVERIES):
                async_task(APPLY, last.pk, cluster=settings.IMPORTS_CLUSTER)
        assert wait_for(lambda: waiting_on_locks() >= 2, 60), explain()
        holder.commit()
    finally:
        holder.close()
    assert wait_for(lambda: settled(jobs), 120), explain()

    ids = {j.pk for j in jobs}
    runs = [t for t in Task.objects.filter(func=APPLY) if t.args and t.args[0] in ids]
    failed = [t.result for t in runs if not t.success]
    assert not failed, failed[0]
    # every delivery ran, and ended cleanly
    assert len(runs) == 2 + 2 + LAST_JOB_DELIVERIES

    done = [job_now(j) for j in jobs]
    for job, expected in zip(done, expected_figures, strict=True):
        assert job.checkpoint == job.batches  # each batch committed once, in order
        assert figures(job) == expected
        assert Order.objects.filter(job=job).count() == job.created_count
        actions = audit_actions(job)
        assert actions["import.job.started"] == 1
        assert actions["import.job.completed"] == 1
        assert actions["import.job.failed"] == 0
    assert_each_row_changed_once(done)
    assert change_log(done) == expected_changes
    assert state_of_tables() == expected_state
    assert_chain_intact()
    for worker in (first, second):
        assert worker.proc.poll() is None, worker.tail()
        assert "Traceback" not in worker.output(), worker.tail(80)
