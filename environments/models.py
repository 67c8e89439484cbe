from django.db import models
from django.urls import reverse

from .choices import Provider, Tier


class Project(models.Model):
    """An application the team deploys, e.g. ``makalah.ai``; owns its environments."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
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
    url = models.URLField(blank=True)
    protected = models.BooleanField(
        default=False,
        help_text="Changes need a second person's approval. Production is protected by default.",
    )
    maintenance_window = models.CharField(max_length=200, blank=True)
    notes = models.TextField(blank=True)
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
    identifier = models.CharField(max_length=200)
    url = models.URLField(blank=True)

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
