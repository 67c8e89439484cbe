"""Rotation campaigns (rotate a set of secrets and know when it is done) and access reviews
(who had access last period, what they did in production, and who confirmed it)."""

from django.conf import settings
from django.db import models
from django.db.models import Case, Count, F, Q, Value, When
from django.urls import reverse

from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedTextField

from .choices import CampaignStatus, Decision, ItemState, ReviewStatus, Scope

# An item still holds its starting value: present, valued, same fingerprint, not waived.
_STILL_OLD = Q(
    configvar__isnull=False,
    configvar__has_value=True,
    configvar__fingerprint=F("start_fingerprint"),
    waived_at__isnull=True,
)


class RotationCampaignQuerySet(models.QuerySet):
    def open(self) -> "RotationCampaignQuerySet":
        return self.filter(status=CampaignStatus.OPEN)

    def with_progress(self) -> "RotationCampaignQuerySet":
        """``total``, ``old`` (still the starting value) and ``done`` per campaign, one query."""
        old = Q(
            items__configvar__isnull=False,
            items__configvar__has_value=True,
            items__configvar__fingerprint=F("items__start_fingerprint"),
            items__waived_at__isnull=True,
        )
        return self.annotate(
            total=Count("items", distinct=True),
            old=Count("items", filter=old, distinct=True),
        ).annotate(done=F("total") - F("old"))


class RotationCampaign(models.Model):
    """A set of secrets to rotate by a due date. Each variable is done when its fingerprint
    differs from the one recorded at the start (an import, an edit, a rotation, the API), or
    when it is waived with a reason; progress is computed by query, never kept in a counter."""

    title = MaskedCharField(max_length=200)
    scope = models.CharField(max_length=20, choices=Scope.choices)
    # What was selected, in words ("makalah.ai / prod", "readable by alice"): shown in reports.
    scope_label = MaskedCharField(max_length=300)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField()
    status = models.CharField(
        max_length=20, choices=CampaignStatus.choices, default=CampaignStatus.OPEN
    )
    reason = MaskedTextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_note = MaskedTextField(blank=True)

    objects = RotationCampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"Rotation campaign #{self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("compliance:campaign_detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status == CampaignStatus.OPEN


class RotationItemQuerySet(models.QuerySet):
    def with_state(self) -> "RotationItemQuerySet":
        """``state`` (an :class:`ItemState`) computed in SQL from the variable's fingerprint now."""
        return self.annotate(
            state=Case(
                When(configvar__isnull=True, then=Value(ItemState.REMOVED)),
                When(
                    Q(configvar__has_value=True)
                    & ~Q(configvar__fingerprint=F("start_fingerprint")),
                    then=Value(ItemState.ROTATED),
                ),
                When(waived_at__isnull=False, then=Value(ItemState.WAIVED)),
                When(configvar__has_value=False, then=Value(ItemState.REMOVED)),
                default=Value(ItemState.OLD),
                output_field=models.CharField(),
            )
        )

    def still_old(self) -> "RotationItemQuerySet":
        return self.filter(_STILL_OLD)


class RotationItem(models.Model):
    """One variable of a campaign with the fingerprint it had when the campaign started.

    The key and environment are copied so the report still names a variable deleted since."""

    campaign = models.ForeignKey(RotationCampaign, on_delete=models.CASCADE, related_name="items")
    configvar = models.ForeignKey(
        "environments.ConfigVar", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    environment = models.ForeignKey(
        "environments.Environment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    environment_label = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    value_kind = models.CharField(max_length=40, blank=True)
    start_fingerprint = models.CharField(max_length=64)
    start_hint = models.CharField(max_length=8, blank=True)
    waived_at = models.DateTimeField(null=True, blank=True)
    waived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    waive_reason = MaskedTextField(blank=True)

    objects = RotationItemQuerySet.as_manager()

    class Meta:
        ordering = ["environment_label", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "configvar"], name="rotation_item_unique_var"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.environment_label} / {self.key}"

    def get_absolute_url(self) -> str:
        return f"{self.campaign.get_absolute_url()}#item-{self.pk}"


class AccessReviewQuerySet(models.QuerySet):
    def open(self) -> "AccessReviewQuerySet":
        return self.filter(status=ReviewStatus.OPEN)


class AccessReview(models.Model):
    """A periodic review of who has access: every active user with their role, last login and
    what they did in production during the period; each line kept or revoked by an admin.

    Completing it freezes a signed report (Markdown, its sha256 and a signature by the server
    key) that stays with the review."""

    period_start = models.DateField()
    period_end = models.DateField()
    status = models.CharField(
        max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    report_markdown = MaskedTextField(blank=True)
    report_sha256 = models.CharField(max_length=64, blank=True)
    report_signature = models.CharField(max_length=128, blank=True)

    objects = AccessReviewQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self) -> str:
        return f"Access review #{self.pk} ({self.period_start} – {self.period_end})"

    def get_absolute_url(self) -> str:
        return reverse("compliance:review_detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status == ReviewStatus.OPEN


class AccessReviewLine(models.Model):
    """One user in a review: what they held and did (frozen at the start), and the decision."""

    review = models.ForeignKey(AccessReview, on_delete=models.CASCADE, related_name="lines")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    role = models.CharField(max_length=20, blank=True)
    last_login = models.DateTimeField(null=True, blank=True)
    # {"configvar": 3, "changerequest": 1, ...}: production audit events by action area
    activity = MaskedJSONField(default=dict, blank=True)
    production_events = models.PositiveIntegerField(default=0)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    note = MaskedTextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(fields=["review", "user"], name="access_review_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.username} in {self.review}"

    def get_absolute_url(self) -> str:
        return f"{self.review.get_absolute_url()}#line-{self.pk}"
