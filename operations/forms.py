from django import forms
from django.utils import timezone

from environments.models import Environment
from opsportal.forms import BootstrapFormMixin
from runbooks.models import Runbook

from .choices import Frequency, Weekday
from .services import owner_choices


class ScheduleForm(BootstrapFormMixin, forms.Form):
    """A schedule's settings; the service validates them (the cron expression above all)."""

    runbook = forms.ModelChoiceField(queryset=Runbook.objects.select_related("project"))
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.select_related("project").order_by("project__name", "name")
    )
    owner = forms.ModelChoiceField(
        queryset=None, help_text="Runs are started for this person; they hear when one is late."
    )
    frequency = forms.ChoiceField(choices=Frequency.choices, initial=Frequency.WEEKLY)
    at_time = forms.TimeField(
        label="At", initial="09:00", widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    weekday = forms.TypedChoiceField(
        choices=Weekday.choices, coerce=int, initial=Weekday.MONDAY, help_text="Weekly runs."
    )
    day_of_month = forms.IntegerField(
        min_value=1, max_value=28, initial=1, help_text="Monthly and quarterly runs (1–28)."
    )
    cron = forms.CharField(
        required=False,
        max_length=100,
        label="Cron expression",
        help_text="For the cron frequency: minute hour day month weekday, e.g. 30 6 * * 1-5.",
    )
    grace_hours = forms.IntegerField(
        min_value=1,
        initial=24,
        label="Grace period (hours)",
        help_text="After this the run is overdue and its owner is told.",
    )
    starts_at = forms.DateTimeField(
        required=False,
        label="Starts",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="No period before this (now if empty).",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owner_choices()

    def values(self) -> dict:
        data = dict(self.cleaned_data)
        data["starts_at"] = data.get("starts_at") or timezone.now()
        data["cron"] = data.get("cron") or ""
        return data


class ReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 2}), label="Reason"
    )


class OptionalReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(max_length=500, required=False, label="Reason (optional)")
