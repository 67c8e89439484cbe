from django import forms

from environments.models import Environment, Project
from opsportal.forms import BootstrapFormMixin

from . import dora
from .choices import DeploymentStatus, Provider


class ScopeFormMixin:
    """A project (by slug) and an environment of it (by id): what a page looks at."""

    def _scope_fields(self):
        self.fields["project"] = forms.ModelChoiceField(
            queryset=Project.objects.order_by("name"),
            to_field_name="slug",
            required=False,
            empty_label="All projects",
        )
        self.fields["environment"] = forms.ModelChoiceField(
            queryset=Environment.objects.select_related("project").order_by(
                "project__name", "name"
            ),
            required=False,
            empty_label="Production environments" if self.production_default else "Any",
        )

    def clean(self):
        data = super().clean()
        env, project = data.get("environment"), data.get("project")
        if env is not None and project is not None and env.project_id != project.pk:
            self.add_error("environment", f"{env} is not an environment of {project}.")
        return data


class LedgerFilterForm(ScopeFormMixin, BootstrapFormMixin, forms.Form):
    production_default = False
    status = forms.ChoiceField(
        choices=[("", "Any status"), *DeploymentStatus.choices], required=False
    )
    provider = forms.ChoiceField(choices=[("", "Any provider"), *Provider.choices], required=False)
    sha = forms.CharField(required=False, max_length=64, label="Commit", help_text="SHA prefix")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._scope_fields()
        self.order_fields(["project", "environment", "status", "provider", "sha"])

    def filter(self, queryset):
        if not self.is_valid():
            return queryset.none()
        data = self.cleaned_data
        if data["environment"] is not None:
            queryset = queryset.filter(environment=data["environment"])
        elif data["project"] is not None:
            queryset = queryset.filter(environment__project=data["project"])
        if data["status"]:
            queryset = queryset.filter(status=data["status"])
        if data["provider"]:
            queryset = queryset.filter(provider=data["provider"])
        if data["sha"].strip():
            queryset = queryset.filter(sha__startswith=data["sha"].strip().lower())
        return queryset


class DoraForm(ScopeFormMixin, BootstrapFormMixin, forms.Form):
    """Which environments and which period. Without an environment: the production
    environments of the project (or of every project)."""

    production_default = True
    days = forms.TypedChoiceField(
        choices=[(d, f"Last {d} days") for d in dora.PERIOD_CHOICES] + [("", "Dates below")],
        coerce=int,
        empty_value=None,
        required=False,
        initial=dora.DEFAULT_DAYS,
        label="Period",
    )
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._scope_fields()
        self.order_fields(["project", "environment", "days", "start", "end"])

    def clean(self):
        data = super().clean()
        dates = (data.get("start"), data.get("end"))
        if not data.get("days") and any(dates) and not all(dates):
            self.add_error("end", "Give both dates, or choose a preset period.")
        return data

    def period(self) -> dora.Period:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("start") and data.get("end") and not data.get("days"):
            return dora.between(data["start"], data["end"])
        return dora.last_days(data.get("days") or dora.DEFAULT_DAYS)

    def environments(self) -> list[Environment]:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        if data.get("environment") is not None:
            return [data["environment"]]
        envs = Environment.objects.select_related("project").filter(tier="production")
        if data.get("project") is not None:
            envs = envs.filter(project=data["project"])
        return list(envs.order_by("project__name", "name"))


class RolledBackForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text="Recorded in the audit trail; the deployment then counts as a failed change.",
    )
