"""Every write of rotation campaigns and access reviews: permission, validation, write and audit
in one transaction.

Who may do what: a campaign changes nothing in the inventory itself but asks for rotations, so
starting, waiving and closing need what rotating needs (``environments.change_configvar``,
operators and up). Access reviews decide who keeps access: admins only (``auth.change_user``),
and nobody decides their own line.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from opsportal.accounts.permissions import require
from opsportal.accounts.services import user_role_revoke
from opsportal.audit.masking import scrub_text
from opsportal.audit.services import record

from . import report, reviews
from .choices import CampaignStatus, Decision, ReviewStatus, Scope
from .models import AccessReview, AccessReviewLine, RotationCampaign, RotationItem
from .selection import select

PERM_CAMPAIGN = "environments.change_configvar"
PERM_REVIEW = "auth.change_user"
FINDING_DUE_DAYS = 14
SIGNATURE_SALT = "compliance.access_review.report"


# --- Rotation campaigns --------------------------------------------------------------------------
def rotation_campaign_create(
    *,
    actor,
    scope: str,
    owner,
    due_date: date,
    title: str = "",
    reason: str = "",
    environment=None,
    project=None,
    kind: str = "",
    user=None,
    variables=None,
) -> RotationCampaign:
    """Start a campaign over the selected secrets, recording each one's fingerprint now."""
    require(actor, PERM_CAMPAIGN, action="start rotation campaigns")
    if owner is None or not owner.is_active:
        raise ValidationError({"owner": "Choose an active owner."})
    if due_date is None:
        raise ValidationError({"due_date": "Give a due date."})
    if due_date < timezone.localdate():
        raise ValidationError({"due_date": "The due date is in the past."})
    qs, label, detail = select(
        scope=scope,
        environment=environment,
        project=project,
        kind=kind,
        user=user,
        variables=variables,
    )
    title = (title or "").strip() or f"Rotate {label}"[:200]
    with transaction.atomic():
        chosen = list(qs.select_related("environment__project").order_by("pk"))
        if not chosen:
            raise ValidationError(f"No secret with a value to rotate in {label}.")
        now = timezone.now()
        campaign = RotationCampaign(
            title=title,
            scope=scope,
            scope_label=label[:300],
            owner=owner,
            due_date=due_date,
            reason=reason,
            created_by=actor,
            started_at=now,
        )
        campaign.save()
        RotationItem.objects.bulk_create(
            [
                RotationItem(
                    campaign=campaign,
                    configvar=var,
                    environment=var.environment,
                    environment_label=str(var.environment)[:200],
                    key=var.key,
                    value_kind=var.value_kind,
                    start_fingerprint=var.fingerprint,
                    start_hint=var.hint,
                )
                for var in chosen
            ]
        )
        record(
            actor=actor,
            action="rotation.campaign.created",
            target=campaign,
            changes={
                "title": campaign.title,
                "scope": label,
                "selection": detail,
                "owner": owner.get_username(),
                "due_date": due_date.isoformat(),
                "variables": len(chosen),
            },
            message=reason,
        )
    return campaign


def rotation_campaign_from_finding(*, actor, configvar) -> RotationCampaign:
    """One click from a hygiene finding (rotation overdue): a campaign for that variable, owned
    by whoever clicked, due in two weeks."""
    if not configvar.rotation_overdue():
        raise ValidationError(f"{configvar.key} is not overdue for rotation.")
    return rotation_campaign_create(
        actor=actor,
        scope=Scope.VARIABLES,
        variables=[configvar],
        owner=actor,
        due_date=timezone.localdate() + timedelta(days=FINDING_DUE_DAYS),
        title=f"Rotate {configvar.key} in {configvar.environment} (rotation overdue)",
        reason=f"Hygiene finding: {configvar.key} was due for rotation on "
        f"{configvar.rotation_due_at():%Y-%m-%d}.",
    )


def _lock_open(campaign: RotationCampaign) -> RotationCampaign:
    locked = RotationCampaign.objects.select_for_update().get(pk=campaign.pk)
    if not locked.is_open:
        raise ValidationError(f"Campaign #{locked.pk} is closed.")
    return locked


def rotation_item_waive(*, actor, item: RotationItem, reason: str) -> RotationItem:
    """Mark a variable as not to be rotated in this campaign, with the reason why."""
    require(actor, PERM_CAMPAIGN, action="waive rotations")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this variable is not rotated."})
    with transaction.atomic():
        _lock_open(item.campaign)
        locked = RotationItem.objects.select_for_update().get(pk=item.pk)
        if locked.waived_at is not None:
            raise ValidationError(f"{locked} is already waived.")
        if not RotationItem.objects.filter(pk=locked.pk).still_old().exists():
            raise ValidationError(f"{locked} no longer holds its old value: nothing to waive.")
        locked.waived_at, locked.waived_by, locked.waive_reason = timezone.now(), actor, reason
        locked.save(update_fields=["waived_at", "waived_by", "waive_reason"])
        record(
            actor=actor,
            action="rotation.item.waived",
            target=locked.campaign,
            environment=locked.environment,
            changes={"variable": str(locked), "item": locked.pk},
            message=reason,
        )
    item.refresh_from_db()
    return item


def rotation_campaign_close(
    *, actor, campaign: RotationCampaign, note: str = ""
) -> RotationCampaign:
    """Close a campaign. With variables still old, the note must say why."""
    require(actor, PERM_CAMPAIGN, action="close rotation campaigns")
    note = (note or "").strip()
    with transaction.atomic():
        locked = _lock_open(campaign)
        c = report.counts(report.item_rows(locked))
        if c["old"] and not note:
            raise ValidationError(
                {"note": f"{c['old']} variable(s) still hold their old value: say why you close."}
            )
        locked.status = CampaignStatus.CLOSED
        locked.closed_at, locked.closed_by, locked.close_note = timezone.now(), actor, note
        locked.save(update_fields=["status", "closed_at", "closed_by", "close_note"])
        record(
            actor=actor,
            action="rotation.campaign.closed",
            target=locked,
            changes={k: c[k] for k in ("total", "rotated", "waived", "removed", "old")},
            message=note,
        )
    campaign.refresh_from_db()
    return campaign


# --- Access reviews ------------------------------------------------------------------------------
def access_review_start(
    *, actor, period_start: date | None = None, period_end: date | None = None
) -> AccessReview:
    """Open a review of every active login over the period (default: the last quarter, or
    ``ACCESS_REVIEW_PERIOD_DAYS``), freezing each one's role, last login and production work."""
    require(actor, PERM_REVIEW, action="start access reviews")
    default_start, default_end = reviews.default_period()
    period_end = period_end or default_end
    period_start = period_start or (period_end - (default_end - default_start))
    if period_start > period_end:
        raise ValidationError({"period_start": "The period starts after it ends."})
    with transaction.atomic():
        if AccessReview.objects.select_for_update().open().exists():
            raise ValidationError("An access review is already open: complete it first.")
        review = AccessReview(
            period_start=period_start,
            period_end=period_end,
            started_by=actor,
            started_at=timezone.now(),
        )
        review.save()
        activity = reviews.production_activity(period_start, period_end)
        lines = []
        for user in reviews.reviewed_users():
            mine = activity.get(user.pk, {})
            lines.append(
                AccessReviewLine(
                    review=review,
                    user=user,
                    username=user.get_username(),
                    role=reviews.user_role(user),
                    last_login=user.last_login,
                    activity=mine,
                    production_events=sum(mine.values()),
                )
            )
        AccessReviewLine.objects.bulk_create(lines)
        record(
            actor=actor,
            action="access_review.started",
            target=review,
            changes={
                "period": [period_start.isoformat(), period_end.isoformat()],
                "users": len(lines),
            },
        )
    return review


def access_review_decide(
    *, actor, line: AccessReviewLine, decision: str, note: str = ""
) -> AccessReviewLine:
    """Keep or revoke one user's access. A revocation applies at once (accounts service)."""
    require(actor, PERM_REVIEW, action="decide access reviews")
    if decision not in (Decision.KEEP, Decision.REVOKE):
        raise ValidationError({"decision": "Keep or revoke."})
    if line.user_id is not None and line.user_id == actor.pk:
        raise PermissionDenied("Your own access must be decided by another admin.")
    note = (note or "").strip()
    if decision == Decision.REVOKE and not note:
        raise ValidationError({"note": "Say why the access is revoked."})
    with transaction.atomic():
        review = AccessReview.objects.select_for_update().get(pk=line.review_id)
        if not review.is_open:
            raise ValidationError(f"{review} is completed.")
        locked = AccessReviewLine.objects.select_for_update().get(pk=line.pk)
        if locked.decision != Decision.PENDING:
            raise ValidationError(
                f"{locked.username} was already decided ({locked.get_decision_display()})."
            )
        locked.decision, locked.note = decision, note
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save(update_fields=["decision", "note", "decided_by", "decided_at"])
        record(
            actor=actor,
            action="access_review.line.decided",
            target=review,
            changes={"user": locked.username, "role": locked.role, "decision": decision},
            message=note,
        )
        if decision == Decision.REVOKE and locked.user is not None and locked.user.is_active:
            user_role_revoke(
                actor=actor, user=locked.user, reason=f"Access review #{review.pk}: {note}"
            )
    line.refresh_from_db()
    return line


def report_signature(content_sha256: str) -> str:
    """HMAC-SHA256 of the content hash with a key derived from the server's secret key."""
    return salted_hmac(SIGNATURE_SALT, content_sha256, algorithm="sha256").hexdigest()


def access_review_complete(*, actor, review: AccessReview) -> AccessReview:
    """Sign off a review once every line is decided; the signed report is kept with it.

    Every line, the completing admin's own included, must be decided — and their own line can
    only have been decided by another admin, so nobody completes a review of their own access
    alone."""
    require(actor, PERM_REVIEW, action="complete access reviews")
    with transaction.atomic():
        locked = AccessReview.objects.select_for_update().get(pk=review.pk)
        if not locked.is_open:
            raise ValidationError(f"{locked} is already completed.")
        own = locked.lines.filter(user_id=actor.pk).first()
        if own is not None and own.decision == Decision.PENDING:
            raise PermissionDenied(
                "Your own access is still undecided: another admin must decide it before you "
                "can complete this review."
            )
        pending = locked.lines.filter(decision=Decision.PENDING).count()
        if pending:
            raise ValidationError(f"{pending} user(s) are still undecided.")
        if own is not None and own.decided_by_id == actor.pk:  # defence in depth
            raise PermissionDenied("Your own access must be decided by another admin.")
        now = timezone.now()
        # masked first (the field masks on save): the hash covers exactly what is kept
        body = scrub_text(report.review_markdown(locked, completed_by=actor, completed_at=now))
        digest = hashlib.sha256(body.encode()).hexdigest()
        locked.status = ReviewStatus.COMPLETED
        locked.completed_by, locked.completed_at = actor, now
        locked.report_markdown = body
        locked.report_sha256 = digest
        locked.report_signature = report_signature(digest)
        locked.save(
            update_fields=[
                "status",
                "completed_by",
                "completed_at",
                "report_markdown",
                "report_sha256",
                "report_signature",
            ]
        )
        decisions = list(locked.lines.values_list("decision", flat=True))
        record(
            actor=actor,
            action="access_review.completed",
            target=locked,
            changes={
                "report_sha256": digest,
                "kept": decisions.count(Decision.KEEP),
                "revoked": decisions.count(Decision.REVOKE),
            },
        )
    review.refresh_from_db()
    return review
