"""Start telling from now (the cursor at the audit head: history is not mailed), and the
django-q2 schedules: a one-minute tick (missed events, retries, digests), a daily scan
(rotations falling due) and a daily audit verification. Schedules are created in code, never in
the admin, which shows them read-only."""

from django.db import migrations

SCHEDULES = {
    "notifications: events, retries and digests": ("notifications.tasks.tick", "I", 1),
    "notifications: rotations due": ("notifications.tasks.scan", "D", None),
    "audit: verify the chain daily (admins hear of a break)": (
        "notifications.tasks.verify_audit",
        "D",
        None,
    ),
}


def create(apps, schema_editor):
    head = apps.get_model("audit", "AuditChainHead").objects.filter(pk=1).first()
    apps.get_model("notifications", "EventCursor").objects.get_or_create(
        pk=1, defaults={"seq": head.seq if head else 0}
    )
    Schedule = apps.get_model("django_q", "Schedule")
    for name, (func, kind, minutes) in SCHEDULES.items():
        defaults = {"func": func, "schedule_type": kind, "repeats": -1}
        if minutes:
            defaults["minutes"] = minutes
        Schedule.objects.get_or_create(name=name, defaults=defaults)


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("audit", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
