"""The deployment ledger: what was deployed where, when, by whom, and how it ended."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedURLField

from .choices import FINISHED, STATUS_CSS, DeploymentStatus, Provider, Source


class DeploymentQuerySet(models.QuerySet):
    def with_related(self) -> "DeploymentQuerySet":
        return self.select_related("environment__project", "triggered_by")

    def for_environment(self, environment) -> "DeploymentQuerySet":
        return self.filter(environment=environment)

    def for_project(self, project) -> "DeploymentQuerySet":
        return self.filter(environment__project=project)

    def finished_between(self, start, end) -> "DeploymentQuerySet":
        """Ended (success, failure, cancelled, rolled back) in ``[start, end)``."""
        return self.filter(finished_at__gte=start, finished_at__lt=end, status__in=FINISHED)

    def successful(self) -> "DeploymentQuerySet":
        return self.filter(status=DeploymentStatus.SUCCESS)

    def by_external_id(self, *, environment, provider: str, external_id: str):
        return self.filter(environment=environment, provider=provider, external_id=external_id)

    def before(self, deployment) -> "DeploymentQuerySet":
        """Deployments of the same environment that started before this one, latest first."""
        moment = deployment.began_at
        return (
            self.filter(environment_id=deployment.environment_id)
            .filter(Q(started_at__lt=moment) | Q(started_at=moment, pk__lt=deployment.pk))
            .order_by("-started_at", "-pk")
        )


class Deployment(models.Model):
    """One deployment of a commit to an environment, from queued to its end.

    ``external_id`` is the provider's own id (a Vercel ``dpl_…``, a Render ``dep-…``, a CI run
    id): recording the same one again for the same environment and provider updates this row
    instead of adding another (a partial unique constraint makes that hold under concurrent
    posts). ``started_at`` is set when the deployment is first seen running (or recorded at
    all), ``finished_at`` when it ends; DORA figures count by ``finished_at``.
    """

    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="deployment_records"
    )
    provider = models.CharField(max_length=20, choices=Provider.choices, default=Provider.OTHER)
    external_id = models.CharField(max_length=200, blank=True)
    sha = models.CharField("commit SHA", max_length=64)
    ref = MaskedCharField(max_length=255, blank=True, help_text="Branch or tag.")
    url = MaskedURLField("URL", max_length=500, blank=True)
    status = models.CharField(
        max_length=20, choices=DeploymentStatus.choices, default=DeploymentStatus.QUEUED
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    commit_time = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.API)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The person, or the owner of the token, who recorded it; empty for webhooks.",
    )
    via_token_id = models.BigIntegerField(null=True, blank=True)
    via_token_label = models.CharField(max_length=100, blank=True)
    links = MaskedJSONField(default=dict, blank=True)

    objects = DeploymentQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "provider", "external_id"],
                condition=~Q(external_id=""),
                name="deployment_unique_external_id",
            ),
        ]
        indexes = [
            models.Index(fields=["environment", "-id"], name="deployment_env_id"),
            # Covering (PostgreSQL): DORA's counts, medians and failures read the index only.
            models.Index(
                fields=["environment", "finished_at"],
                include=["status", "commit_time"],
                name="deployment_env_finished",
            ),
            models.Index(fields=["environment", "started_at"], name="deployment_env_started"),
        ]

    def __str__(self) -> str:
        return f"{self.short_sha} to {self.environment} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("deployments:deployment_detail", kwargs={"pk": self.pk})

    @property
    def status_css(self) -> str:
        return STATUS_CSS.get(self.status, "")

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def began_at(self):
        return self.started_at

    @property
    def lead_time(self):
        """Commit → successful end, when both are known."""
        if self.status != DeploymentStatus.SUCCESS or not (self.commit_time and self.finished_at):
            return None
        return self.finished_at - self.commit_time

    @property
    def duration(self):
        if self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def triggered_label(self) -> str:
        if self.via_token_label:
            who = self.triggered_by.get_username() if self.triggered_by_id else "?"
            return f"{who} via {self.via_token_label}"
        if self.triggered_by_id:
            return self.triggered_by.get_username()
        return self.get_source_display()


class WebhookDelivery(models.Model):
    """A provider webhook delivery the portal has acted on, remembered to refuse replays.

    Only ids, the event type and times are kept: never the body or a header.
    """

    provider = models.CharField(max_length=20, choices=Provider.choices)
    delivery_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=60)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    outcome = models.CharField(max_length=20)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "delivery_id"], name="delivery_unique_id"),
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.event_type} {self.delivery_id}"

    def get_absolute_url(self) -> str:
        if self.deployment_id:
            return reverse("deployments:deployment_detail", kwargs={"pk": self.deployment_id})
        return reverse("deployments:ledger")
