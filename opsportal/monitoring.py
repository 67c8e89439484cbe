"""What an operator of the portal itself watches: the database, the task queues, failed
tasks, running imports and the audit chain head. Read by `/healthz` (database only, for load
balancers) and `manage.py portal_status` (everything, for cron and monitoring agents)."""

import json
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Count, Min, Q
from django.utils import timezone
from django_q.models import OrmQ, Task

from opsportal.accounts.roles import role_drift
from opsportal.apphooks import app_hooks
from opsportal.audit.models import AuditChainHead


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _drift_text(diff: dict) -> str:
    parts = []
    if diff["missing"]:
        parts.append(f"missing {', '.join(diff['missing'])}")
    if diff["extra"]:
        parts.append(f"extra {', '.join(diff['extra'])}")
    return "; ".join(parts) or "the group does not exist"


#: the checkpoint task runs every 15 minutes (audit migration 0008); two missed runs are a problem
CHECKPOINT_STALE_AFTER = timedelta(minutes=45)


def _last_checkpoint(directory: Path) -> dict | None:
    """The last line of ``checkpoints.jsonl``, read from its end (the file only grows)."""
    from opsportal.audit.checkpoints import FILENAME

    path = directory / FILENAME
    if not path.is_file():
        return None
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 8192))
        lines = [line for line in fh.read().splitlines() if line.strip()]
    try:
        return json.loads(lines[-1]) if lines else None
    except ValueError:
        return {"unreadable": True}


def checkpoint_status(now) -> tuple[dict, list[str], list[str]]:
    """(section, problems, warnings) for the signed audit checkpoints kept outside the database."""
    if not settings.AUDIT_SIGNING_KEY:
        return (
            {"status": "off"},
            [],
            [
                "AUDIT_SIGNING_KEY is not set: no signed checkpoint of the audit trail is kept "
                "outside the database (docs/audit.md, Checkpoints)"
            ],
        )
    last = _last_checkpoint(Path(settings.AUDIT_CHECKPOINT_DIR))
    if last is None:
        return (
            {"status": "none"},
            ["no audit checkpoint written yet (is the default worker running?)"],
            [],
        )
    try:
        at = datetime.fromisoformat(last["at"])
    except (KeyError, TypeError, ValueError):
        return {"status": "unreadable"}, ["the last audit checkpoint cannot be read"], []
    age = int((now - at).total_seconds())
    section = {"status": "ok", "seq": last.get("seq"), "at": last["at"], "age_seconds": age}
    if now - at > CHECKPOINT_STALE_AFTER:
        section["status"] = "stale"
        return (
            section,
            [
                f"the last audit checkpoint is {age // 60} min old (every 15 min expected: is "
                "the default worker running? audit.checkpoint.failed events say why)"
            ],
            [],
        )
    return section, [], []


def portal_status(*, max_wait_seconds: int = 300) -> dict:
    """A snapshot with a list of ``problems`` (empty when all is well)."""
    now = timezone.now()
    problems = []
    queues = {}
    # Waiting tasks have `lock` in the past (enqueued, or due again after `retry`); a task
    # being worked on has its lock pushed into the future. Only the ORM broker keeps them here.
    rows = OrmQ.objects.values("key").annotate(
        waiting=Count("id", filter=Q(lock__lte=now)),
        in_progress=Count("id", filter=Q(lock__gt=now)),
        oldest=Min("lock", filter=Q(lock__lte=now)),
    )
    for row in rows:
        wait = int((now - row["oldest"]).total_seconds()) if row["oldest"] else 0
        queues[row["key"]] = {
            "waiting": row["waiting"],
            "in_progress": row["in_progress"],
            "oldest_wait_seconds": wait,
        }
        if wait > max_wait_seconds:
            problems.append(
                f"queue {row['key']}: a task has waited {wait} s (is a worker running?)"
            )
    failures = Task.objects.filter(success=False, stopped__gte=now - timedelta(hours=24))
    failed = failures.count()
    if failed:
        latest = failures.order_by("-stopped").values_list("func", flat=True).first()
        problems.append(f"{failed} task(s) failed in the last 24 h, the latest {latest}")
    # Each app reports its own work in flight (`<app>/status.py`: `sections(now)` -> a dict of
    # sections, a list of problems); the ground floor knows none of them.
    sections: dict = {}
    for hook in app_hooks("status"):
        found, app_problems = hook.sections(now)
        sections.update(found)
        problems += app_problems
    drift = role_drift()
    for role, diff in sorted(drift.items()):
        problems.append(f"role {role} differs from roles.py: {_drift_text(diff)}")
    head = AuditChainHead.objects.filter(pk=1).values("seq", "at").first() or {}
    checkpoints, checkpoint_problems, warnings = checkpoint_status(now)
    problems += checkpoint_problems
    return {
        "time": now.isoformat(),
        "database": "ok",
        "queues": queues,
        "failed_tasks_24h": failed,
        **sections,
        "roles": {"status": "drift" if drift else "ok", "drift": drift},
        "audit_head": {
            "seq": head.get("seq", 0),
            "at": head["at"].isoformat() if head.get("at") else None,
        },
        "audit_checkpoints": checkpoints,
        "problems": problems,
        "warnings": warnings,
    }
