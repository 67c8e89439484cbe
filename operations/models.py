from __future__ import annotations

from datetime import time, timedelta

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from opsportal.fields import MaskedTextField
from runbooks.choices import RunStatus

from . import cron
from .choices import Frequency, PeriodStatus, Weekday


class RunScheduleQuerySet(models.QuerySet):
    def with_related(self):
        return self.select_related("runbook", "environment__project", "owner")

    def active(self):
        return self.filter(active=True)


class RunSchedule(models.Model):
    """A runbook that recurs: each period a run of its latest version on one environment,
    started for its owner, due within the grace period."""

    runbook = models.ForeignKey(
        "runbooks.Runbook", on_delete=models.PROTECT, related_name="schedules"
    )
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="run_schedules"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="run_schedules",
        help_text="Runs are started for this person, who is told when one is overdue.",
    )
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.WEEKLY)
    at_time = models.TimeField(
        default=time(9, 0), help_text="Time of day (the portal's time zone)."
    )
    weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.MONDAY, help_text="For weekly runs."
    )
    day_of_month = models.PositiveSmallIntegerField(
        default=1, help_text="For monthly and quarterly runs (1–28)."
    )
    cron = models.CharField(
        max_length=100, blank=True, help_text="For a cron frequency: minute hour day month weekday."
    )
    grace_hours = models.PositiveIntegerField(
        default=24, help_text="Hours after the start of a period before its run is overdue."
    )
    active = models.BooleanField(default=True)
    starts_at = models.DateTimeField(help_text="No period starts before this moment.")
    #: the start of the next period no run exists for yet (the tick's index)
    next_due_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RunScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["next_due_at", "pk"]
        indexes = [models.Index(fields=["active", "next_due_at"], name="runschedule_due_idx")]
        permissions = [
            ("assign_owner", "Can make another person the owner of a recurring run"),
        ]

    def __str__(self) -> str:
        return f"{self.runbook.title} on {self.environment} ({self.describe()})"

    def get_absolute_url(self) -> str:
        return reverse("operations:schedule_detail", kwargs={"pk": self.pk})

    def expression(self) -> str:
        """The cron expression this schedule fires on (a preset's, or its own)."""
        if self.frequency == Frequency.CRON:
            return self.cron
        return cron.preset(
            self.frequency, at=self.at_time, weekday=self.weekday, day_of_month=self.day_of_month
        )

    def parsed(self) -> cron.Cron:
        return cron.Cron.parse(self.expression())

    def describe(self) -> str:
        at = self.at_time.strftime("%H:%M")
        if self.frequency == Frequency.DAILY:
            return f"daily at {at}"
        if self.frequency == Frequency.WEEKLY:
            return f"weekly on {Weekday(self.weekday).label} at {at}"
        if self.frequency == Frequency.MONTHLY:
            return f"monthly on day {self.day_of_month} at {at}"
        if self.frequency == Frequency.QUARTERLY:
            return f"quarterly on day {self.day_of_month} at {at}"
        return f"cron {self.cron}"

    @property
    def grace(self) -> timedelta:
        return timedelta(hours=self.grace_hours)


class ScheduledRunQuerySet(models.QuerySet):
    def with_related(self):
        return self.select_related(
            "schedule__runbook", "schedule__environment__project", "schedule__owner", "run"
        )

    def open(self):
        """Periods whose run is still in progress (due, or overdue past ``due_at``)."""
        return self.filter(run__status=RunStatus.IN_PROGRESS)


class ScheduledRun(models.Model):
    """One period of a schedule and the run started for it; at most one per period, however
    many workers tick at once (the unique constraint, inserted with the run)."""

    schedule = models.ForeignKey(RunSchedule, on_delete=models.CASCADE, related_name="periods")
    period_start = models.DateTimeField()
    due_at = models.DateTimeField(help_text="Overdue after this if the run is not completed.")
    run = models.OneToOneField(
        "runbooks.Run",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="scheduled_period",
    )
    error = MaskedTextField(blank=True, help_text="Why no run could be started for the period.")
    overdue_noted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScheduledRunQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "period_start"], name="scheduledrun_one_per_period"
            )
        ]
        indexes = [models.Index(fields=["due_at"], name="scheduledrun_due_idx")]

    def __str__(self) -> str:
        when = timezone.localtime(self.period_start).strftime("%Y-%m-%d %H:%M")
        return f"{self.schedule.runbook.title} on {self.schedule.environment}, {when}"

    def get_absolute_url(self) -> str:
        if self.run_id:
            return reverse("runbooks:run_detail", kwargs={"pk": self.run_id})
        return self.schedule.get_absolute_url()

    def status(self, now=None) -> str:
        """A ``PeriodStatus``: done/aborted as the run ended, overdue past ``due_at``."""
        if self.run_id is None:
            return PeriodStatus.FAILED
        if self.run.status == RunStatus.COMPLETED:
            return PeriodStatus.DONE
        if self.run.status == RunStatus.ABORTED:
            return PeriodStatus.ABORTED
        return PeriodStatus.OVERDUE if (now or timezone.now()) > self.due_at else PeriodStatus.DUE
