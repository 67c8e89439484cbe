from datetime import timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedTextField, MaskedURLField

from .choices import ChangeKind, ChangeRequestStatus, Provider, Tier, ValueKind

PAYLOAD_TEXT_KEYS = (
    "notes",
    "maintenance_window",
    "url",
    "description",
    "example",
    "owner",
    "source",
    "identifier",
)


class Project(models.Model):
    """An application the team deploys, e.g. ``makalah.ai``; owns its environments."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = MaskedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("environments:project_detail", kwargs={"slug": self.slug})


class Environment(models.Model):
    """A deployment target of a project (dev, preview, staging, prod) with its tier and branch."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="environments")
    name = models.CharField(max_length=60)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.DEVELOPMENT)
    branch = models.CharField(max_length=200, blank=True)
    url = MaskedURLField(blank=True)
    protected = models.BooleanField(
        default=False,
        help_text="Changes need a second person's approval. Production is protected by default.",
    )
    maintenance_window = MaskedCharField(max_length=200, blank=True)
    notes = MaskedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="environment_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.project.name} / {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("environments:environment_detail", kwargs={"pk": self.pk})


class ProviderDeployment(models.Model):
    """A provider-side deployment behind an environment, e.g. Convex ``prod:basic-oriole-337``."""

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="deployments"
    )
    provider = models.CharField(max_length=20, choices=Provider.choices)
    identifier = MaskedCharField(max_length=200)
    url = MaskedURLField(blank=True)

    class Meta:
        ordering = ["provider", "identifier"]
        constraints = [
            models.UniqueConstraint(
                fields=["environment", "provider", "identifier"], name="deployment_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.identifier}"

    def get_absolute_url(self) -> str:
        return self.environment.get_absolute_url()


class ConfigVarQuerySet(models.QuerySet):
    def for_project(self, project) -> "ConfigVarQuerySet":
        return self.filter(environment__project=project)

    def secrets(self) -> "ConfigVarQuerySet":
        return self.filter(is_secret=True)

    def with_rotation(self) -> "ConfigVarQuerySet":
        return self.filter(rotation_period_days__isnull=False)


class ConfigVar(models.Model):
    """One variable of an environment's inventory.

    A secret's value is never stored: only its keyed fingerprint, its kind and a hint of at most
    the last four characters. Non-secret values (public URLs, ``NEXT_PUBLIC_*``) are kept in
    ``value``. ``detail`` holds what may be shown of a secret's shape (a URL's host, a Convex
    deployment name) so drift and hygiene rules can reason about it.
    """

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="variables")
    key = models.CharField(max_length=200)
    is_secret = models.BooleanField(default=True)
    required = models.BooleanField(default=False)
    description = MaskedCharField(max_length=300, blank=True)
    example = MaskedCharField(max_length=300, blank=True)
    owner = MaskedCharField(max_length=100, blank=True)
    source = MaskedCharField(
        max_length=100, blank=True, help_text="Where the value lives, e.g. Infisical, Doppler."
    )
    rotation_period_days = models.PositiveIntegerField(null=True, blank=True)
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    value = models.TextField(blank=True, help_text="Only for non-secret values.")
    has_value = models.BooleanField(default=False)
    fingerprint = models.CharField(max_length=64, blank=True, db_index=True)
    value_kind = models.CharField(max_length=40, choices=ValueKind.choices, blank=True)
    hint = models.CharField(max_length=8, blank=True)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConfigVarQuerySet.as_manager()

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "key"], name="configvar_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.environment} / {self.key}"

    def get_absolute_url(self) -> str:
        return reverse("environments:configvar_edit", kwargs={"pk": self.pk})

    @property
    def display_value(self) -> str:
        """What any page may show: the clear value of a public variable, a mask for a secret."""
        if not self.has_value:
            return ""
        if self.is_secret:
            return f"••••{self.hint[1:] if self.hint else ''}"
        return self.value

    def rotation_due_at(self):
        if not self.rotation_period_days:
            return None
        since = self.last_rotated_at or self.created_at
        return since + timedelta(days=self.rotation_period_days)

    def rotation_overdue(self, now=None) -> bool:
        due = self.rotation_due_at()
        return due is not None and due < (now or timezone.now())


# Open requests compared per environment when looking for overlaps (far more than any team keeps).
OVERLAP_SCAN = 200


def touched_by(payload: dict) -> set[str]:
    """What a payload changes, as comparable names: variable keys as they are, settings as
    ``setting:<field>``, deployments as ``deployment:<provider>:<identifier>``."""
    names = {op["key"] for op in payload.get("vars", [])}
    names |= {f"setting:{f}" for f in payload.get("settings", {}).get("after", {})}
    names |= {
        f"deployment:{d.get('provider')}:{d.get('identifier')}"
        for d in payload.get("deployments", [])
    }
    return names


def touched_label(name: str) -> str:
    """``setting:url`` → ``setting url``; a variable key stays itself."""
    return name.replace(":", " ", 1) if ":" in name else name


class ChangeRequestQuerySet(models.QuerySet):
    def pending(self) -> "ChangeRequestQuerySet":
        return self.filter(status=ChangeRequestStatus.PENDING)

    def awaiting(self, user) -> "ChangeRequestQuerySet":
        """Pending requests this user may decide (anyone's but their own)."""
        return self.pending().exclude(author=user)

    def overlapping(self, environment_id: int, touched: set[str], exclude_pk=None) -> list:
        """Pending requests on this environment touching any of ``touched`` (see
        ``ChangeRequest.touches``), oldest first. A protected environment has a handful of open
        requests, so their payloads are compared here rather than indexed."""
        if not touched:
            return []
        qs = self.pending().filter(environment_id=environment_id).select_related("author")
        if exclude_pk is not None:
            qs = qs.exclude(pk=exclude_pk)
        found = []
        for cr in qs.order_by("created_at", "pk")[:OVERLAP_SCAN]:
            common = cr.touches() & touched
            if common:
                cr.overlap = sorted(common)
                found.append(cr)
        return found


class ChangeRequest(models.Model):
    """A change to a protected environment waiting for a second person.

    ``payload`` holds the diff in its public form only: for a secret the fingerprint, kind and
    hint, never the value. Approving applies the payload atomically.
    """

    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="change_requests"
    )
    kind = models.CharField(max_length=20, choices=ChangeKind.choices)
    summary = MaskedCharField(max_length=300)
    reason = MaskedTextField(blank=True)
    # Typed text inside the payload (notes, descriptions…) is masked like the fields it becomes;
    # values and fingerprints are exact data and stay as value_state made them.
    payload = MaskedJSONField(default=dict, mask_keys=PAYLOAD_TEXT_KEYS)
    status = models.CharField(
        max_length=20, choices=ChangeRequestStatus.choices, default=ChangeRequestStatus.PENDING
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = MaskedTextField(blank=True)
    # The request that made this one stale (applied first) or superseded it.
    replaced_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced"
    )

    objects = ChangeRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("approve_changerequest", "Can approve or reject change requests")]

    def __str__(self) -> str:
        return f"Change request #{self.pk} on {self.environment}: {self.summary}"

    def get_absolute_url(self) -> str:
        return reverse("environments:changerequest_detail", kwargs={"pk": self.pk})

    @property
    def is_pending(self) -> bool:
        return self.status == ChangeRequestStatus.PENDING

    def touches(self) -> set[str]:
        return touched_by(self.payload)
