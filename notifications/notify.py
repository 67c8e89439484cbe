"""The portal's own events (the audit trail's health), declared like any app's."""

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.urls import reverse

from .hooks import IMMEDIATE, EventType, Notice

EVENTS = [
    EventType(
        "audit.failure",
        "Audit verification or checkpoint failed",
        "an admin",
        IMMEDIATE,
    ),
]


def admins():
    return (
        get_user_model()
        .objects.filter(Q(is_superuser=True) | Q(groups__name="admin"), is_active=True)
        .distinct()
    )


def audit_failure(event) -> list[Notice]:
    changes = event.changes or {}
    if event.action == "audit.chain.verify_failed":
        subject = f"Audit chain broken at event #{changes.get('broken_seq')}"
        lines = [
            f"Verification ({changes.get('via', 'unknown')}) found the audit chain broken at "
            f"event #{changes.get('broken_seq')}: {changes.get('reason', '')}.",
            f"{changes.get('checked', 0)} event(s) before it verified.",
            "Someone may have edited or deleted audit rows. Run `manage.py audit_verify` and "
            "compare with the last exported checkpoint.",
        ]
    else:
        subject = "Audit checkpoint failed"
        lines = [event.message or "An audit checkpoint could not be written or verified."]
    return [
        Notice(
            event="audit.failure",
            subject=subject,
            lines=lines,
            url=reverse("audit:event_list"),
            recipients=admins(),
            facts={"Found by": str(changes.get("via", event.actor_label))},
        )
    ]


HANDLERS = {
    "audit.chain.verify_failed": audit_failure,
    # Signed checkpoints of the chain head (DESIGN.md) record this when one fails.
    "audit.checkpoint.failed": audit_failure,
}
