from django.db import models


class CampaignStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class ItemState(models.TextChoices):
    """Where a campaign's variable stands, computed in SQL (``RotationItemQuerySet.with_state``)."""

    OLD = "old", "Still the old value"
    ROTATED = "rotated", "Rotated"
    WAIVED = "waived", "Waived"
    REMOVED = "removed", "Removed from the inventory"


class Scope(models.TextChoices):
    """How a campaign's variables were selected."""

    ENVIRONMENT = "environment", "A whole environment"
    PROJECT = "project", "A project"
    KIND = "kind", "A kind of credential"
    READABLE_BY = "readable_by", "Everything readable by a user"
    VARIABLES = "variables", "Chosen variables"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"


class Decision(models.TextChoices):
    PENDING = "pending", "Not decided"
    KEEP = "keep", "Keep"
    REVOKE = "revoke", "Revoke"
