"""Choices the ground floor itself records.

An environment's tier is part of every audit event (the audit contract in DESIGN.md: "who
changed prod" is a filter on it), so the ground floor defines it and the environments app uses
it (``environments.choices.Tier`` is this class).
"""

from django.db import models


class Tier(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    PREVIEW = "preview", "Preview"
    STAGING = "staging", "Staging"
    PRODUCTION = "production", "Production"
