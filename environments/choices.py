from django.db import models

from opsportal.choices import Tier
from opsportal.credentials import Kind

__all__ = ["Tier"]  # defined by the ground floor: the audit trail records it


class Provider(models.TextChoices):
    VERCEL = "vercel", "Vercel"
    CONVEX = "convex", "Convex"
    RENDER = "render", "Render"
    SUPABASE = "supabase", "Supabase"
    UPSTASH = "upstash", "Upstash"
    OTHER = "other", "Other"


# What a value looks like; stored for secrets instead of the value itself. The classifier owns
# the list (opsportal.credentials), so a new credential format is one edit.
ValueKind = Kind


class ChangeRequestStatus(models.TextChoices):
    PENDING = "pending", "Waiting for approval"
    APPLIED = "applied", "Approved and applied"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"
    # Another request touching the same variables (or settings) was applied first: this one was
    # prepared against a state that no longer exists. Set inside that apply's transaction.
    STALE = "stale", "Stale: prepare it again"
    # Retired by a newer request on the same variables (``changerequest_supersede``).
    SUPERSEDED = "superseded", "Superseded"


class ChangeKind(models.TextChoices):
    SETTINGS = "settings", "Environment settings"
    VARIABLES = "variables", "Variables"
    IMPORT = "import", "Import"
    ROTATION = "rotation", "Rotation"


class Severity(models.TextChoices):
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"
