from django.db import models


class DeploymentStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    SUCCESS = "success", "Succeeded"
    FAILURE = "failure", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ROLLED_BACK = "rolled_back", "Rolled back"


# Where a deployment may go from each status. Recording the same status again is always
# allowed (an idempotent re-post updates links, URL or times). A finished deployment only moves
# on when a success is found bad: success → rolled_back.
TRANSITIONS: dict[str, frozenset[str]] = {
    DeploymentStatus.QUEUED: frozenset(
        {
            DeploymentStatus.IN_PROGRESS,
            DeploymentStatus.SUCCESS,
            DeploymentStatus.FAILURE,
            DeploymentStatus.CANCELLED,
        }
    ),
    DeploymentStatus.IN_PROGRESS: frozenset(
        {DeploymentStatus.SUCCESS, DeploymentStatus.FAILURE, DeploymentStatus.CANCELLED}
    ),
    DeploymentStatus.SUCCESS: frozenset({DeploymentStatus.ROLLED_BACK}),
    DeploymentStatus.FAILURE: frozenset(),
    DeploymentStatus.CANCELLED: frozenset(),
    DeploymentStatus.ROLLED_BACK: frozenset(),
}

# The badge of each status on the pages (Bootstrap classes).
STATUS_CSS = {
    DeploymentStatus.QUEUED: "text-bg-light border",
    DeploymentStatus.IN_PROGRESS: "text-bg-info",
    DeploymentStatus.SUCCESS: "text-bg-success",
    DeploymentStatus.FAILURE: "text-bg-danger",
    DeploymentStatus.CANCELLED: "text-bg-secondary",
    DeploymentStatus.ROLLED_BACK: "text-bg-warning",
}

# Ended: the deployment has a finish time.
FINISHED = frozenset(
    {
        DeploymentStatus.SUCCESS,
        DeploymentStatus.FAILURE,
        DeploymentStatus.CANCELLED,
        DeploymentStatus.ROLLED_BACK,
    }
)
# What counts as a failed change for DORA's change failure rate (plus a success followed by a
# rollback run, see deployments/dora.py).
FAILED = frozenset({DeploymentStatus.FAILURE, DeploymentStatus.ROLLED_BACK})


class Provider(models.TextChoices):
    """Who ran the deployment. ``github_actions`` and ``ci`` for pipelines posting to the API."""

    VERCEL = "vercel", "Vercel"
    RENDER = "render", "Render"
    CONVEX = "convex", "Convex"
    SUPABASE = "supabase", "Supabase"
    NETLIFY = "netlify", "Netlify"
    FLY = "fly", "Fly.io"
    GITHUB_ACTIONS = "github_actions", "GitHub Actions"
    CI = "ci", "Other CI"
    OTHER = "other", "Other"


class Source(models.TextChoices):
    """How the portal learnt of a deployment."""

    API = "api", "API"
    VERCEL_WEBHOOK = "vercel_webhook", "Vercel webhook"
    RENDER_WEBHOOK = "render_webhook", "Render webhook"
    PORTAL = "portal", "Portal"
    COMMAND = "command", "Command"
