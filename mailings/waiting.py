"""'Waiting for me' (notifications): campaigns whose sending needs a person — messages in an
unknown state after a crash, a failed sender."""

from django.db.models import Q

from notifications.hooks import LIMIT, WaitingItem

from .choices import CampaignStatus
from .models import Campaign

SEND = "mailings.send_campaign"


def items(user) -> list[WaitingItem]:
    if not user.has_perm(SEND):
        return []
    campaigns = (
        Campaign.objects.filter(
            Q(status=CampaignStatus.FAILED)
            | Q(unknown_count__gt=0) & ~Q(status=CampaignStatus.CANCELLED)
        )
        .only("pk", "name", "status", "unknown_count", "created_at", "error")
        .order_by("created_at", "pk")[:LIMIT]
    )
    out = []
    for c in campaigns:
        if c.status == CampaignStatus.FAILED:
            detail = "the sender stopped: resume it (nothing is sent twice)"
        else:
            detail = (
                f"{c.unknown_count} message(s) may or may not have left after a crash: check the "
                "provider's log, then leave them or queue them again"
            )
        out.append(
            WaitingItem(
                kind="Welcome e-mails",
                title=f"#{c.pk} {c.name}",
                url=c.get_absolute_url() + ("?status=unknown" if c.unknown_count else ""),
                detail=detail,
                since=c.created_at,
            )
        )
    return out
