"""The portal's own events (the audit trail's health), declared like any app's."""

import hashlib

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
    day = f"{event.at:%Y-%m-%d}"
    via = str(changes.get("via", event.actor_label))
    if event.action == "audit.chain.verify_failed":
        broken = changes.get("broken_seq")
        subject = f"Audit chain broken at event #{broken}"
        lines = [
            f"Verification ({via}) found the audit chain broken at event #{broken}: "
            f"{changes.get('reason', '')}.",
            f"{changes.get('checked', 0)} event(s) before it verified.",
            "Someone may have edited or deleted audit rows. Run `manage.py audit_verify "
            "--checkpoints DIR` and compare with the signed checkpoints kept outside the database.",
        ]
        key = f"audit.failure:verify:{broken}:{day}"
    else:
        reason = str(changes.get("reason") or event.message or "")
        subject = "Audit checkpoint failed"
        lines = [
            f"{via}: {reason or 'a signed checkpoint could not be written or verified'}.",
            "A checkpoint that no longer holds means the trail was rewritten or truncated after "
            "it was signed. Run `manage.py audit_verify --checkpoints DIR`.",
        ]
        digest = hashlib.sha256(reason.encode()).hexdigest()[:12]
        key = f"audit.failure:checkpoint:{digest}:{day}"
    return [
        Notice(
            event="audit.failure",
            subject=subject,
            lines=lines,
            url=reverse("audit:event_list"),
            recipients=admins(),
            key=key,  # told once a day for the same break, however often it is found
            facts={"Found by": via},
        )
    ]


HANDLERS = {
    "audit.chain.verify_failed": audit_failure,
    # opsportal.audit.checkpoints: the 15-minute checkpoint refused, audit_verify --checkpoints
    "audit.checkpoint.failed": audit_failure,
}
