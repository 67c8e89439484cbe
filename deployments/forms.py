from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from environments.choices import Tier
from environments.models import Environment
from opsportal.forms import BootstrapFormMixin

from . import dora
from .choices import DeploymentStatus, Provider


class FastSelect(forms.Select):
    """A ``<select>`` built in Python: Django's default renders a template per option, which
    was most of a filter page's time with forty environments to choose from."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})
        chosen = "" if value is None else str(value[0] if isinstance(value, list) else value)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (v, mark_safe(" selected") if str(v) == chosen else "", label)
                for v, label in self.choices
            ),
        )
        return format_html("<select{}>{}</select>", flatatt(attrs), options)


class ScopeFormMixin:
    """A project (by slug) and an environment of it (by id): what a page looks at. Both lists
    come from one query of environments (a project without one has nothing to show)."""

    production_default = False

    def _scope_fields(self):
        self.environment_list = list(
            Environment.objects.select_related("project").order_by("project__name", "name")
        )
        self._by_pk = {e.pk: e for e in self.environment_list}
        self._projects = {e.project.slug: e.project for e in self.environment_list}
        select = {"class": "form-select"}
        self.fields["project"] = forms.ChoiceField(
            choices=[("", "All projects")] + [(s, p.name) for s, p in self._projects.items()],
            required=False,
            widget=FastSelect(attrs=select),
        )
        empty = "Production environments" if self.production_default else "Any"
        self.fields["environment"] = forms.TypedChoiceField(
            choices=[("", empty)] + [(e.pk, str(e)) for e in self.environment_list],
            coerce=int,
            empty_value=None,
            required=False,
            widget=FastSelect(attrs=select),
        )

    def clean_project(self):
        return self._projects.get(self.cleaned_data.get("project") or "")

    def clean_environment(self):
        pk = self.cleaned_data.get("environment")
        return self._by_pk.get(pk) if pk is not None else None

    def clean(self):
        data = super().clean()
        env, project = data.get("environment"), data.get("project")
        if env is not None and project is not None and env.project_id != project.pk:
            self.add_error("environment", f"{env} is not an environment of {project}.")
        return data


class LedgerFilterForm(ScopeFormMixin, BootstrapFormMixin, forms.Form):
    production_default = False
    status = forms.ChoiceField(
        choices=[("", "Any status"), *DeploymentStatus.choices],
        required=False,
        widget=FastSelect,
    )
    provider = forms.ChoiceField(
        choices=[("", "Any provider"), *Provider.choices], required=False, widget=FastSelect
    )
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
        widget=FastSelect,
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
        project = data.get("project")
        return [
            e
            for e in self.environment_list
            if e.tier == Tier.PRODUCTION and (project is None or e.project_id == project.pk)
        ]


class RolledBackForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text="Recorded in the audit trail; the deployment then counts as a failed change.",
    )
