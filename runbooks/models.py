import hashlib

from django.conf import settings
from django.db import models
from django.urls import reverse

from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedTextField

from .choices import CheckStatus, CheckType, RunStatus, SecondSignoff, StepKind, StepStatus


class Runbook(models.Model):
    """A plan the team runs repeatedly; its content lives in immutable versions."""

    title = MaskedCharField(max_length=200)
    project = models.ForeignKey(
        "environments.Project",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runbooks",
    )
    allowed_urls = MaskedTextField(
        blank=True,
        help_text="Origins automated checks may reach, one per line (https://host[:port]).",
    )
    second_signoff = models.CharField(
        max_length=10,
        choices=SecondSignoff.choices,
        default=SecondSignoff.ALL,
        help_text="On protected environments, which steps need a second person's sign-off. "
        "Steps marked <!-- ops: second-signoff --> in the plan (or edited so) always do.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("runbooks:runbook_detail", kwargs={"pk": self.pk})

    def latest_version(self):
        return self.versions.order_by("-number").first()


class RunbookVersion(models.Model):
    """One immutable revision of a runbook: its source, metadata, rollback plan and notes."""

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    source = MaskedTextField(blank=True)
    source_name = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64)
    metadata = MaskedJSONField(default=dict, blank=True)
    rollback = MaskedJSONField(default=list, blank=True)
    notes = MaskedJSONField(default=list, blank=True)
    change_summary = MaskedCharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbook_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.runbook.title} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("runbooks:version_detail", kwargs={"pk": self.pk})

    @staticmethod
    def digest(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def rollback_text(self) -> str:
        return "\n\n".join(f"{r['title']}\n\n{r['body']}".strip() for r in self.rollback)


class Phase(models.Model):
    """A phase (section with steps) of a version; may require the previous phase complete."""

    version = models.ForeignKey(RunbookVersion, on_delete=models.CASCADE, related_name="phases")
    order = models.PositiveIntegerField()
    title = MaskedCharField(max_length=300)
    description = MaskedTextField(blank=True)
    group = MaskedCharField(
        max_length=300, blank=True, help_text="The heading this phase sits under in the plan."
    )
    rollback = models.BooleanField(
        default=False, help_text="Steps written in a rollback section: done only when rolling back."
    )
    requires_previous = models.BooleanField(
        default=False, help_text="Steps here can only be signed once the previous phase is done."
    )

    class Meta:
        ordering = ["version", "order"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return self.version.get_absolute_url()


class StepQuerySet(models.QuerySet):
    def for_version(self, version):
        return self.filter(phase__version=version).select_related("phase")


class Step(models.Model):
    """One checkable step of a phase: title, Markdown body, commands and an optional check."""

    phase = models.ForeignKey(Phase, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveIntegerField()
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    depth = models.PositiveSmallIntegerField(default=0)
    source = models.CharField(max_length=20, blank=True)  # checklist | heading | bold | task | todo
    source_line = models.PositiveIntegerField(default=0)
    ref = models.CharField(max_length=100, blank=True)
    title = MaskedCharField(max_length=500)
    body = MaskedTextField(blank=True)
    commands = MaskedJSONField(default=list, blank=True)
    kind = models.CharField(max_length=10, choices=StepKind.choices, default=StepKind.MANUAL)
    required = models.BooleanField(default=True)
    requires_second_signoff = models.BooleanField(default=False)
    initially_checked = models.BooleanField(default=False)
    check_type = models.CharField(
        max_length=20, choices=CheckType.choices, default=CheckType.NONE, blank=True
    )
    check_config = MaskedJSONField(default=dict, blank=True)
    #: what the plan wrote beside the step: ``markers`` (its ops: directives), ``fields`` (a GSD
    #: task's sub-elements), ``verify``
    details = MaskedJSONField(default=dict, blank=True)

    objects = StepQuerySet.as_manager()

    class Meta:
        ordering = ["phase__order", "order"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return self.phase.version.get_absolute_url()

    def as_dict(self) -> dict:
        return {
            "title": self.title,
            "body": self.body,
            "commands": self.commands,
            "required": self.required,
            "requires_second_signoff": self.requires_second_signoff,
            "check_type": self.check_type,
            "check_config": self.check_config,
        }


class RunQuerySet(models.QuerySet):
    def in_progress(self):
        return self.filter(status=RunStatus.IN_PROGRESS)

    def with_related(self):
        # Not the version's Markdown source (a plan can be megabytes): no run page shows it.
        return self.select_related("version__runbook", "environment__project", "started_by").defer(
            "version__source"
        )


class Run(models.Model):
    """One execution of a pinned version against an environment, in a planned window."""

    version = models.ForeignKey(RunbookVersion, on_delete=models.PROTECT, related_name="runs")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="runbook_runs"
    )
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.IN_PROGRESS
    )
    planned_start = models.DateTimeField()
    planned_end = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    abort_reason = MaskedTextField(blank=True)
    #: the runbook's second sign-off setting when the run started (pinned like its version)
    second_signoff = models.CharField(
        max_length=10, choices=SecondSignoff.choices, default=SecondSignoff.ALL
    )

    objects = RunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        permissions = [
            ("second_signoff", "Can give the second sign-off on protected environments"),
            ("run_check", "Can run automated checks"),
        ]

    def __str__(self) -> str:
        return f"{self.version} on {self.environment}"

    def get_absolute_url(self) -> str:
        return reverse("runbooks:run_detail", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status == RunStatus.IN_PROGRESS


class StepRun(models.Model):
    """The state of one step in one run, with its sign-off, evidence and check result."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(Step, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=StepStatus.choices, default=StepStatus.PENDING)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)
    note = MaskedTextField(blank=True)
    evidence_text = MaskedTextField(blank=True)
    evidence_file = models.FileField(upload_to="runbooks/evidence/%Y/%m/", blank=True)
    #: the file's name as uploaded (storage may rename it: spaces, a suffix against collisions)
    evidence_name = models.CharField(max_length=255, blank=True)
    second_signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    second_signed_at = models.DateTimeField(null=True, blank=True)
    second_note = MaskedTextField(blank=True)
    skip_reason = MaskedTextField(blank=True)
    check_status = models.CharField(
        max_length=10, choices=CheckStatus.choices, default=CheckStatus.NONE, blank=True
    )
    check_result = MaskedJSONField(default=dict, blank=True)
    check_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    check_ran_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["step__phase__order", "step__order"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="steprun_unique_step")]

    def __str__(self) -> str:
        return f"{self.step.title} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return self.run.get_absolute_url()

    @property
    def is_closed(self) -> bool:
        return self.status in (StepStatus.DONE, StepStatus.SKIPPED)
