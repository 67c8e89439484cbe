from django.db import models


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


# A sender may be working on the campaign (or about to).
SENDING_STATUSES = (CampaignStatus.QUEUED, CampaignStatus.RUNNING)
SETTLED_STATUSES = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)


class RecipientStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    # Claimed (committed) by a sender just before it hands the message to the backend.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    BOUNCED = "bounced", "Bounced"
    # Claimed by a sender that stopped (a crash) before recording the outcome: the message may or
    # may not have left. Never re-sent automatically (at most once); a person decides.
    UNKNOWN = "unknown", "Unknown (sender stopped)"
    SKIPPED = "skipped", "Skipped"
    CANCELLED = "cancelled", "Cancelled"


class SkipReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    NO_EMAIL = "no_email", "No e-mail address"
