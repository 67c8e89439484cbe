from django.db import models


class StepKind(models.TextChoices):
    MANUAL = "manual", "Manual"
    COMMAND = "command", "Command"
    CHECK = "check", "Automated check"


class CheckType(models.TextChoices):
    NONE = "", "None"
    HTTP = "http", "HTTP status"
    LATENCY = "latency", "Latency percentiles"
    ENV_DRIFT = "env_drift", "No key drift between two environments"
    ENV_CLEAN = "env_clean", "Environment hygiene clean"
    IMPORT_JOB = "import_job", "Import job finished clean"
    SAMPLE_VERIFIED = "sample_verified", "Import sample verified"


class SecondSignoff(models.TextChoices):
    """Which steps of a run on a protected environment wait for a second person."""

    ALL = "all", "Every step"
    COMMANDS = "commands", "Steps with commands (and marked steps)"
    MARKED = "marked", "Marked steps only"


class RunStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    ABORTED = "aborted", "Aborted"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Open"
    AWAITING_SECOND = "awaiting_second", "Awaiting second sign-off"
    DONE = "done", "Done"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class CheckStatus(models.TextChoices):
    NONE = "", "Not run"
    QUEUED = "queued", "Queued"
    PASSED = "passed", "Passed"
    FAILED = "failed", "Failed"
