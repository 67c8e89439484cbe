import json
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from environments.choices import Tier
from environments.models import Environment
from opsportal.forms import BootstrapFormMixin

from .models import AuditEvent


class AuditFilterForm(BootstrapFormMixin, forms.Form):
    """Filters of the audit log; every field optional, combined with AND."""

    operator = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        to_field_name="username",
        empty_label="Any operator",
    )
    action = forms.CharField(required=False, help_text="Prefix, e.g. configvar. or auth.login")
    tier = forms.ChoiceField(choices=[("", "Any tier"), *Tier.choices], required=False)
    # Both lists come from one query of environments (see __init__): a project without an
    # environment has no events to filter anyway.
    project = forms.ChoiceField(required=False)
    environment = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    target = forms.CharField(required=False, help_text="Type (environments.configvar) or name")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        environments = list(
            Environment.objects.order_by("project__name", "name").values_list(
                "pk", "name", "project__slug", "project__name"
            )
        )
        projects = dict((slug, name) for _pk, _n, slug, name in environments)
        self.fields["project"].choices = [("", "Any project"), *projects.items()]
        self.fields["environment"].choices = [
            ("", "Any environment"),
            *((pk, f"{project} / {name}") for pk, name, _slug, project in environments),
        ]

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filter(self, queryset):
        if not self.is_valid():
            return queryset.none()
        data = self.cleaned_data
        if data["operator"]:
            queryset = queryset.filter(actor=data["operator"])
        if data["action"]:
            queryset = queryset.filter(action__startswith=data["action"].strip())
        if data["tier"]:
            queryset = queryset.filter(tier=data["tier"])
        if data["environment"] is not None:
            queryset = queryset.filter(environment_id=data["environment"])
        if data["project"]:
            environments = Environment.objects.filter(project__slug=data["project"]).values("pk")
            queryset = queryset.filter(environment_id__in=environments)
        if data["target"]:
            target = data["target"].strip()
            if "." in target and " " not in target:
                # A dotted word is a type (environments.configvar) or a name with a dot in it
                # (the project makalah.ai, a host): match either.
                queryset = queryset.filter(
                    Q(target_type=target.lower()) | Q(target_repr__icontains=target)
                )
            else:
                queryset = queryset.filter(target_repr__icontains=target)
        # Whole days in the portal's time zone. `at` never decreases along the chain, so the
        # range becomes a seq range: the list then seeks on seq alone, however old the dates.
        if data["date_from"]:
            first = (
                AuditEvent.objects.filter(at__gte=_day_start(data["date_from"]))
                .order_by("at", "seq")
                .values_list("seq", flat=True)
                .first()
            )
            queryset = queryset.filter(seq__gte=first) if first else queryset.none()
        if data["date_to"]:
            last = (
                AuditEvent.objects.filter(at__lt=_day_start(data["date_to"] + timedelta(days=1)))
                .order_by("-at", "-seq")
                .values_list("seq", flat=True)
                .first()
            )
            queryset = queryset.filter(seq__lte=last) if last else queryset.none()
        return queryset


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class AuditRedactForm(BootstrapFormMixin, forms.Form):
    """Which field of an audit event to redact, and why (the service validates the rest)."""

    field = forms.ChoiceField(label="Field to redact")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=1000,
        help_text="Recorded in the audit trail with the redaction (never the removed text), "
        "e.g. “API key pasted into the reason” or “erasure request #123”.",
    )

    def __init__(self, *args, event, paths: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [(path, _choice_label(event, path)) for path in paths]


def _choice_label(event, path: str) -> str:
    value = (
        event.changes.get(path.removeprefix("changes."))
        if path.startswith("changes.")
        else (getattr(event, path))
    )
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"{path}: {text[:60]}{'…' if len(text) > 60 else ''}"
