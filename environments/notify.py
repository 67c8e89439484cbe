"""Notifications (``notifications/hooks.py``): change requests, production hygiene, rotations.

Handlers read the committed state; they write nothing of this app's.
"""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.urls import reverse

from notifications import state
from notifications.hooks import (
    IMMEDIATE,
    OFF,
    EventType,
    Notice,
    only_tiers,
    others,
    users_with_perm,
)
from opsportal.audit.services import chain_head, record

from .choices import Tier
from .hygiene import check_environment
from .models import ChangeRequest, ConfigVar, Environment

APPROVE = "environments.approve_changerequest"
ROTATION_DUE = "configvar.rotation_due"

EVENTS = [
    EventType(
        "changerequest.submitted",
        "Change request submitted",
        "an approver who may decide it",
        IMMEDIATE,
    ),
    EventType("changerequest.approved", "Your change request approved", "its author", IMMEDIATE),
    EventType("changerequest.rejected", "Your change request rejected", "its author", IMMEDIATE),
    EventType(
        "changerequest.withdrawn",
        "Change request withdrawn",
        "an approver who might have decided it",
        OFF,
    ),
    EventType(
        "changerequest.stale",
        "Your change request went stale or was superseded",
        "its author",
        IMMEDIATE,
    ),
    EventType(
        "hygiene.error",
        "New hygiene error in production",
        "an approver (approvers guard production)",
        OFF,
    ),
    EventType(
        "rotation.due", "Rotation due on a variable you own", "the variable's owner", IMMEDIATE
    ),
]


def _change_request(event) -> ChangeRequest | None:
    return (
        ChangeRequest.objects.select_related("environment__project", "author", "decided_by")
        .filter(pk=event.target_id or None)
        .first()
    )


def _facts(cr: ChangeRequest) -> dict:
    return {
        "Environment": str(cr.environment),
        "Tier": cr.environment.get_tier_display(),
        "Requested by": str(cr.author),
        "Change": cr.summary,
    }


def submitted(event) -> list[Notice]:
    cr = _change_request(event)
    if cr is None:
        return []
    approvers = users_with_perm(APPROVE).exclude(pk=cr.author_id)
    return [
        Notice(
            event="changerequest.submitted",
            subject=f"Change request #{cr.pk} waits for approval: {cr.environment}",
            lines=[
                f"{cr.author} asks to {cr.summary} on {cr.environment}.",
                f"Reason: {cr.reason}" if cr.reason else None,
                "A second person must approve it before it applies; you may.",
            ],
            url=cr.get_absolute_url(),
            recipients=others(approvers, event),
            project_id=cr.environment.project_id,
            facts=_facts(cr),
        )
    ]


def _decided(event, key: str, verb: str) -> list[Notice]:
    cr = _change_request(event)
    if cr is None:
        return []
    return [
        Notice(
            event=key,
            subject=f"Change request #{cr.pk} {verb}: {cr.environment}",
            lines=[
                f"{cr.decided_by or event.actor_label} {verb} your request to {cr.summary}.",
                f"Their reason: {cr.decision_reason}" if cr.decision_reason else None,
            ],
            url=cr.get_absolute_url(),
            recipients=others([cr.author], event),
            project_id=cr.environment.project_id,
            facts={**_facts(cr), "Decided by": str(cr.decided_by or event.actor_label)},
        )
    ]


def approved(event) -> list[Notice]:
    return _decided(event, "changerequest.approved", "approved and applied")


def rejected(event) -> list[Notice]:
    return _decided(event, "changerequest.rejected", "rejected")


def withdrawn(event) -> list[Notice]:
    cr = _change_request(event)
    if cr is None:
        return []
    approvers = users_with_perm(APPROVE).exclude(pk=cr.author_id)
    return [
        Notice(
            event="changerequest.withdrawn",
            subject=f"Change request #{cr.pk} withdrawn: {cr.environment}",
            lines=[f"{cr.author} withdrew the request to {cr.summary}; nothing to decide."],
            url=cr.get_absolute_url(),
            recipients=others(approvers, event),
            project_id=cr.environment.project_id,
            facts=_facts(cr),
        )
    ]


def replaced(event) -> list[Notice]:
    """A request closed because another on the same variables applied first (stale) or
    replaced it (superseded): its author prepares it again, or not."""
    cr = _change_request(event)
    if cr is None:
        return []
    verb = "went stale" if event.action == "changerequest.stale" else "was superseded"
    return [
        Notice(
            event="changerequest.stale",
            subject=f"Change request #{cr.pk} {verb}: {cr.environment}",
            lines=[
                f"Your request to {cr.summary} on {cr.environment} {verb}.",
                cr.decision_reason or None,
                "Nothing of it was applied; prepare it again if it is still needed.",
            ],
            url=cr.get_absolute_url(),
            recipients=others([cr.author], event),
            project_id=cr.environment.project_id,
            facts=_facts(cr),
        )
    ]


@only_tiers(Tier.PRODUCTION)
def hygiene(event) -> list[Notice]:
    """After a change to a production environment: the hygiene errors it did not have before.

    What was seen is remembered per environment (with the audit position it reflects), so the
    many events of one change (a variable each) are judged once, and an error is told once —
    again only if it went away and came back.
    """
    if event.tier != Tier.PRODUCTION or not event.environment_id:
        return []
    key = f"hygiene:{event.environment_id}"
    seen = state.recall(key, default={}) or {}
    if seen.get("seq", 0) >= event.seq:
        return []  # judged already, on a state that included this event
    env = Environment.objects.select_related("project").filter(pk=event.environment_id).first()
    if env is None or env.tier != Tier.PRODUCTION:
        return []
    errors = [f for f in check_environment(env) if f.severity == "error"]
    current = sorted({f"{f.rule}:{f.key}" for f in errors})
    state.remember(key, {"seq": chain_head().seq, "errors": current})
    before = set(seen.get("errors", []))
    new = [f for f in errors if f"{f.rule}:{f.key}" not in before]
    if not new:
        return []
    return [
        Notice(
            event="hygiene.error",
            subject=f"{len(new)} new hygiene error(s) in production: {env}",
            lines=[
                *(f"- {f.message}" for f in new),
                "",
                f"After {event.action} by {event.actor_label}.",
            ],
            url=env.get_absolute_url(),
            recipients=users_with_perm(APPROVE),
            project_id=env.project_id,
            key=f"hygiene.error:{env.pk}:{event.seq}",
            facts={"Environment": str(env), "Errors now": str(len(current))},
        )
    ]


def _owners(values) -> dict[str, list]:
    """owner text (lower case) → the users it names, by username or e-mail."""
    wanted = {v.lower() for v in values if v}
    if not wanted:
        return {}
    q = Q(pk__in=[])
    for value in wanted:
        q |= Q(username__iexact=value) | Q(email__iexact=value)
    found: dict[str, list] = {}
    for user in get_user_model().objects.filter(q, is_active=True):
        for name in {user.get_username().lower(), (user.email or "").lower()} & wanted:
            found.setdefault(name, []).append(user)
    return found


def rotation_due(event) -> list[Notice]:
    var = (
        ConfigVar.objects.select_related("environment__project")
        .filter(pk=event.target_id or None)
        .first()
    )
    if var is None or not var.rotation_overdue():
        return []  # deleted, or rotated since
    due = (event.changes or {}).get("due") or f"{var.rotation_due_at():%Y-%m-%d}"
    return [
        Notice(
            event="rotation.due",
            subject=f"Rotation due: {var.environment} / {var.key}",
            lines=[
                f"{var.key} in {var.environment} was due for rotation on {due} "
                f"(every {var.rotation_period_days} days).",
                f"Owner: {var.owner}" if var.owner else "It has no owner: set one.",
            ],
            url=reverse("environments:configvar_rotate", args=[var.pk]),
            recipients=_owners([var.owner]).get((var.owner or "").lower(), []),
            project_id=var.environment.project_id,
            key=f"rotation.due:{var.pk}:{due}",
            facts={"Variable": var.key, "Environment": str(var.environment)},
        )
    ]


def scan(now) -> int:
    """Daily: record each variable whose rotation fell due, once per due date, as the system's
    finding (audited); ``rotation_due`` above then tells its owner and the project's channels."""
    noted = 0
    for var in ConfigVar.objects.with_rotation().select_related("environment__project"):
        due = var.rotation_due_at()
        if due > now:
            continue
        key, stamp = f"rotation:{var.pk}", f"{due:%Y-%m-%d}"
        if state.recall(key) == stamp:
            continue
        with transaction.atomic():
            record(
                actor=None,
                action=ROTATION_DUE,
                target=var,
                environment=var.environment,
                changes={"due": stamp, "period_days": var.rotation_period_days, "owner": var.owner},
            )
            state.remember(key, stamp)
        noted += 1
    return noted


HANDLERS = {
    "changerequest.created": submitted,
    "changerequest.approved": approved,
    "changerequest.rejected": rejected,
    "changerequest.withdrawn": withdrawn,
    "changerequest.stale": replaced,
    "changerequest.superseded": replaced,
    # whatever changes a production environment's inventory or settings
    "configvar.created": hygiene,
    "configvar.updated": hygiene,
    "configvar.rotated": hygiene,
    "configvar.deleted": hygiene,
    "env.import.applied": hygiene,
    "changerequest.applied": hygiene,
    "environment.*": hygiene,
    ROTATION_DUE: rotation_due,
}
