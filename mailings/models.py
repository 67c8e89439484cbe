"""Welcome e-mails to imported members: campaigns, one row per recipient, unsubscriptions.

A ``Recipient`` row is the whole delivery record of one member in one campaign (unique on the
pair): a sender claims it (``sending``, committed) before handing the message to the e-mail
backend and records the outcome after, so a member is never sent the same campaign twice, even
across crashes (see ``mailings.services`` and docs/imports.md, "Welcome e-mails").
"""

from django.conf import settings
from django.db import models
from django.urls import reverse

from imports.choices import MembershipStatus
from imports.models import ImportJob, Member, Product
from opsportal.fields import MaskedCharField, MaskedTextField

from .choices import CampaignStatus, RecipientStatus, SkipReason


class CampaignQuerySet(models.QuerySet):
    def needing_attention(self):
        """Sending, queued, paused or failed: what the dashboard shows."""
        return self.filter(
            status__in=[
                CampaignStatus.QUEUED,
                CampaignStatus.RUNNING,
                CampaignStatus.PAUSED,
                CampaignStatus.FAILED,
            ]
        )


class Campaign(models.Model):
    """A welcome e-mail to the members an import brought in (filtered by job, product and
    membership status): a subject and body template, a send rate and the sending's progress."""

    name = MaskedCharField(max_length=200)
    subject_template = MaskedTextField()
    body_template = MaskedTextField()
    from_email = models.EmailField(blank=True)
    # Audience filters (all optional; together they narrow the audience).
    job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns"
    )
    membership_status = models.CharField(
        max_length=16, choices=MembershipStatus.choices, blank=True
    )
    # Messages per second (0 = as fast as the backend takes them) and recipients per claim.
    rate = models.FloatField(default=0)
    batch_size = models.PositiveIntegerField(default=100)
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    # Counters, kept with each batch's outcome.
    total = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    bounced_count = models.PositiveIntegerField(default=0)
    unknown_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    dry_run = models.JSONField(default=dict, blank=True)  # counts only: no personal data
    error = MaskedTextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The last time a sender committed a batch (a stalled "sending" campaign can be resumed).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Seconds spent sending (pauses excluded): the rate and ETA are computed from it.
    seconds = models.FloatField(default=0)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        permissions = [("send_campaign", "Can start, pause, resume and cancel campaigns")]

    def __str__(self) -> str:
        return f"Campaign #{self.pk} {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("mailings:campaign_detail", args=[self.pk])

    @property
    def processed(self) -> int:
        return (
            self.sent_count
            + self.failed_count
            + self.bounced_count
            + self.unknown_count
            + self.skipped_count
        )

    @property
    def percent(self) -> int:
        if self.status == CampaignStatus.COMPLETED:
            return 100
        if not self.total:
            return 0
        return min(100, int(self.processed * 100 / self.total))

    @property
    def messages_per_second(self) -> float:
        return round(self.processed / self.seconds, 1) if self.seconds else 0.0

    @property
    def eta_seconds(self) -> int:
        rate = self.messages_per_second
        return int((self.total - self.processed) / rate) if rate else 0


class Recipient(models.Model):
    """One member in one campaign and what happened to their message."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    email = models.EmailField(blank=True)
    status = models.CharField(
        max_length=16, choices=RecipientStatus.choices, default=RecipientStatus.QUEUED
    )
    skip_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True)
    # Which claim (one per sender batch) took the row; set in the same UPDATE that moves it
    # from queued to sending, so two senders can never both own it.
    claim = models.CharField(max_length=32, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=120, blank=True, db_index=True)
    error = MaskedCharField(max_length=300, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "member"], name="mailings_once_per_member")
        ]
        indexes = [models.Index(fields=["campaign", "status"])]

    def __str__(self) -> str:
        return f"{self.email or self.member} ({self.status})"

    def get_absolute_url(self) -> str:
        return self.campaign.get_absolute_url() + f"?status={self.status}"


class Unsubscription(models.Model):
    """A member who asked for no more campaign e-mails (skipped by every later campaign)."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="unsubscription")
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.member} unsubscribed"

    def get_absolute_url(self) -> str:
        return reverse("mailings:campaign_list")
