"""Campaign and access-review reports: the same rows on the page, in Markdown and in CSV.

Who rotated a variable and when comes from the audit trail: the latest event on the variable
(``configvar.created/updated/rotated``) since the campaign started whose new fingerprint is the
variable's current one — an edit, an import, a rotation, an approved change request or the
API alike. Every cell of a CSV goes through :mod:`opsportal.exports` (formula-safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from opsportal.audit.masking import scrub_text
from opsportal.audit.models import AuditEvent
from opsportal.audit.services import chain_head
from opsportal.exports import single_line

from .choices import ItemState
from .models import AccessReview, RotationCampaign, RotationItem
from .selection import VAR_ACTIONS, VAR_TARGET


@dataclass
class ItemRow:
    item: RotationItem
    state: str
    at: datetime | None = None
    by: str = ""
    action: str = ""
    event_seq: int | None = None

    @property
    def state_label(self) -> str:
        return ItemState(self.state).label


def _ts(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z") if value else "-"


def item_rows(campaign: RotationCampaign) -> list[ItemRow]:
    """Every item with its state and, for a rotated one, when and by whom (two queries)."""
    items = list(
        campaign.items.with_state()
        .select_related("configvar", "waived_by")
        .order_by("environment_label", "key")
    )
    rotated = {
        str(i.configvar_id): i for i in items if i.state == ItemState.ROTATED and i.configvar_id
    }
    found: dict[str, AuditEvent] = {}
    if rotated:
        events = (
            AuditEvent.objects.filter(
                target_type=VAR_TARGET,
                target_id__in=list(rotated),
                action__in=VAR_ACTIONS,
                at__gte=campaign.started_at,
            )
            .only("seq", "at", "actor_label", "action", "target_id", "changes")
            .order_by("seq")
        )
        for event in events:
            item = rotated[event.target_id]
            after = (event.changes or {}).get("after") or {}
            if after.get("fingerprint") == item.configvar.fingerprint[:16]:
                found[event.target_id] = event  # the latest one wins
    rows = []
    for item in items:
        row = ItemRow(item=item, state=item.state)
        if item.state == ItemState.ROTATED:
            event = found.get(str(item.configvar_id))
            if event is not None:
                row.at, row.by, row.action, row.event_seq = (
                    event.at,
                    event.actor_label,
                    event.action,
                    event.seq,
                )
            else:  # changed outside the trail's reach (should not happen): say when at least
                row.at = item.configvar.updated_at
                row.by = "unknown"
        elif item.state == ItemState.WAIVED:
            row.at, row.by = item.waived_at, str(item.waived_by or "")
        rows.append(row)
    return rows


def counts(rows: list[ItemRow]) -> dict:
    out = {s.value: 0 for s in ItemState}
    for row in rows:
        out[row.state] += 1
    total = len(rows)
    done = total - out[ItemState.OLD]
    out.update(total=total, done=done, percent=round(100 * done / total) if total else 100)
    return out


CAMPAIGN_HEADER = [
    "Environment",
    "Variable",
    "Kind",
    "State",
    "When",
    "By",
    "Via",
    "Audit event",
    "Waiver reason",
]


def campaign_csv_rows(campaign: RotationCampaign):
    yield CAMPAIGN_HEADER
    for row in item_rows(campaign):
        yield [
            row.item.environment_label,
            row.item.key,
            row.item.value_kind,
            row.state_label,
            row.at.isoformat() if row.at else "",
            row.by,
            row.action,
            row.event_seq or "",
            row.item.waive_reason,
        ]


def _cell(text) -> str:
    return scrub_text(single_line(text)).replace("|", "\\|")


def campaign_markdown(campaign: RotationCampaign) -> str:
    rows = item_rows(campaign)
    c = counts(rows)
    head = chain_head()
    out = [
        f"# Rotation campaign #{campaign.pk}: {_cell(campaign.title)}",
        "",
        f"- Scope: {_cell(campaign.scope_label)}",
        f"- Owner: {campaign.owner}",
        f"- Started: {_ts(campaign.started_at)} by {campaign.created_by}",
        f"- Due: {campaign.due_date:%Y-%m-%d}",
        f"- Status: {campaign.get_status_display()}"
        + (f" ({_ts(campaign.closed_at)} by {campaign.closed_by})" if campaign.closed_at else ""),
        f"- Progress: {c['done']}/{c['total']} ({c['percent']} %): {c['rotated']} rotated, "
        f"{c['waived']} waived, {c['removed']} removed, {c['old']} still old",
    ]
    if campaign.reason:
        out.append(f"- Reason: {_cell(campaign.reason)}")
    if campaign.close_note:
        out.append(f"- Closing note: {_cell(campaign.close_note)}")
    sections = (
        (ItemState.ROTATED, "Rotated"),
        (ItemState.WAIVED, "Waived"),
        (ItemState.REMOVED, "Removed from the inventory"),
        (ItemState.OLD, "Still old"),
    )
    for state, title in sections:
        chosen = [r for r in rows if r.state == state]
        out += ["", f"## {title} ({len(chosen)})", ""]
        if not chosen:
            out.append("None.")
            continue
        if state == ItemState.ROTATED:
            out += ["| Environment | Variable | When | By | Via |", "|---|---|---|---|---|"]
            for r in chosen:
                via = f"{r.action} (#{r.event_seq})" if r.event_seq else r.action or "-"
                out.append(
                    f"| {_cell(r.item.environment_label)} | `{r.item.key}` | {_ts(r.at)} | "
                    f"{_cell(r.by)} | {via} |"
                )
        elif state == ItemState.WAIVED:
            out += ["| Environment | Variable | When | By | Reason |", "|---|---|---|---|---|"]
            for r in chosen:
                out.append(
                    f"| {_cell(r.item.environment_label)} | `{r.item.key}` | {_ts(r.at)} | "
                    f"{_cell(r.by)} | {_cell(r.item.waive_reason)} |"
                )
        else:
            out += ["| Environment | Variable | Kind |", "|---|---|---|"]
            for r in chosen:
                out.append(
                    f"| {_cell(r.item.environment_label)} | `{r.item.key}` | "
                    f"{_cell(r.item.value_kind)} |"
                )
    out += [
        "",
        f"Audit chain head at export: #{head.seq} `{head.hash}`",
        f"Generated {_ts(timezone.now())}",
        "",
    ]
    return "\n".join(out)


# --- Access reviews -----------------------------------------------------------------------------
REVIEW_HEADER = [
    "User",
    "Role",
    "Last login",
    "Production events",
    "Activity by area",
    "Decision",
    "Note",
    "Decided by",
    "Decided at",
]


def _activity_text(activity: dict) -> str:
    return ", ".join(f"{area}: {n}" for area, n in sorted((activity or {}).items())) or "none"


def review_lines(review: AccessReview):
    return list(review.lines.select_related("decided_by").order_by("username"))


def review_csv_rows(review: AccessReview):
    yield REVIEW_HEADER
    for line in review_lines(review):
        yield [
            line.username,
            line.role or "none",
            line.last_login.isoformat() if line.last_login else "never",
            line.production_events,
            _activity_text(line.activity),
            line.get_decision_display(),
            line.note,
            str(line.decided_by or ""),
            line.decided_at.isoformat() if line.decided_at else "",
        ]
    if review.report_sha256:
        yield []
        yield ["Completed by", str(review.completed_by), review.completed_at.isoformat()]
        yield ["Report sha256", review.report_sha256]
        yield ["Signature", review.report_signature]


def review_markdown(review: AccessReview, *, completed_by=None, completed_at=None) -> str:
    """The review's report body (the part the content hash covers)."""
    lines = review_lines(review)
    kept = sum(line.decision == "keep" for line in lines)
    revoked = sum(line.decision == "revoke" for line in lines)
    out = [
        f"# Access review #{review.pk}: {review.period_start:%Y-%m-%d} – "
        f"{review.period_end:%Y-%m-%d}",
        "",
        f"- Started: {_ts(review.started_at)} by {review.started_by}",
        f"- Completed: {_ts(completed_at)} by {completed_by or '-'}",
        f"- Users: {len(lines)}: {kept} kept, {revoked} revoked",
        "- Production activity: audit events on production-tier environments in the period",
        "",
        "| User | Role | Last login | Production events | Activity | Decision | Note | By | At |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        out.append(
            f"| {_cell(line.username)} | {line.role or 'none'} | {_ts(line.last_login)} | "
            f"{line.production_events} | {_cell(_activity_text(line.activity))} | "
            f"{line.get_decision_display()} | {_cell(line.note)} | "
            f"{_cell(line.decided_by or '-')} | {_ts(line.decided_at)} |"
        )
    out.append("")
    return "\n".join(out)


def signed_markdown(review: AccessReview) -> str:
    """The kept report with its signature block (what the Markdown export serves)."""
    return (
        review.report_markdown
        + "\n---\n\n"
        + f"- Content sha256: `{review.report_sha256}`\n"
        + f"- Signature (server key, HMAC-SHA256): `{review.report_signature}`\n"
        + f"- Signed by {review.completed_by} at {_ts(review.completed_at)}\n"
    )
