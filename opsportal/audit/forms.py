import json
import re
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import CharField, Q
from django.db.models.functions import Cast
from django.utils import timezone

from opsportal.choices import Tier
from opsportal.forms import BootstrapFormMixin

from .models import AuditEvent

# The environment (and its project) an event is about, as the event's own foreign key names it:
# the ground floor imports no domain app.
Environment = AuditEvent._meta.get_field("environment").related_model
Project = Environment._meta.get_field("project").related_model


class AuditFilterForm(BootstrapFormMixin, forms.Form):
    """Filters of the audit log; every field optional, combined with AND."""

    operator = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        to_field_name="username",
        empty_label="Any operator",
    )
    # Grouped by area (the action's first word), from the actions the trail holds; a prefix
    # typed in the address (auth.login) still filters.
    action = forms.ChoiceField(required=False)
    tier = forms.ChoiceField(choices=[("", "Any tier"), *Tier.choices], required=False)
    # Both lists come from one query of environments (see __init__): a project without an
    # environment has no events to filter anyway.
    project = forms.ChoiceField(required=False)
    environment = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    target = forms.CharField(required=False, help_text="Type (environments.configvar) or name")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    # Set by links ("other events of this request", "events of this import job"), not typed.
    request = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    job = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        asked = (self.data.get("action") or "").strip() if self.is_bound else ""
        self.fields["action"].choices = action_choices(extra=asked)
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
        if data["request"]:
            queryset = queryset.filter(request_id=data["request"].strip())
        if data["job"]:
            queryset = queryset.filter(job_id=data["job"])
        if data["tier"]:
            queryset = queryset.filter(tier=data["tier"])
        if data["environment"] is not None:
            queryset = queryset.filter(environment_id=data["environment"])
        if data["project"]:
            # its environments' events, and the project's own (created, renamed: no environment)
            environments = Environment.objects.filter(project__slug=data["project"]).values("pk")
            project = (
                Project.objects.filter(slug=data["project"])
                .annotate(key=Cast("pk", CharField()))
                .values("key")
            )
            queryset = queryset.filter(
                Q(environment_id__in=environments)
                | Q(target_type="environments.project", target_id__in=project)
            )
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
        # Whole days in the user's time zone (the one their pages show). `at` never decreases
        # along the chain, so the range becomes a seq range: the list then seeks on seq alone,
        # however old the dates.
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


ACTIONS_CACHE_KEY = "audit:known-actions"
ACTIONS_CACHE_SECONDS = 300
# any prefix someone types (the API's ``action=``), short and without control characters
_ACTION_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")
# Every distinct action, one index probe each (a loose index scan: the trail has a hundred
# actions among millions of events; DISTINCT would read the whole index).
_DISTINCT_ACTIONS = """
WITH RECURSIVE known(action) AS (
    SELECT MIN(action) FROM audit_auditevent
    UNION ALL
    SELECT (SELECT MIN(e.action) FROM audit_auditevent e WHERE e.action > known.action)
    FROM known WHERE known.action IS NOT NULL
)
SELECT action FROM known WHERE action IS NOT NULL
"""


def known_actions() -> list[str]:
    """The actions the trail holds, sorted; cached a few minutes (a new kind of event shows up
    in the picker after that, and filters by its prefix at once)."""
    actions = cache.get(ACTIONS_CACHE_KEY)
    if actions is None:
        with connection.cursor() as cursor:
            cursor.execute(_DISTINCT_ACTIONS)
            actions = [row[0] for row in cursor.fetchall()]
        cache.set(ACTIONS_CACHE_KEY, actions, ACTIONS_CACHE_SECONDS)
    return actions


def action_choices(*, extra: str = "") -> list:
    """``<optgroup>`` per area: ``configvar`` → "all configvar.*", configvar.created, ..."""
    groups: dict[str, list[str]] = {}
    for action in known_actions():
        groups.setdefault(action.split(".", 1)[0], []).append(action)
    choices: list = [("", "Any action")]
    offered = {""}
    for area in sorted(groups):
        options = [(f"{area}.", f"all {area}.*")] if len(groups[area]) > 1 else []
        options += [(action, action) for action in groups[area]]
        offered.update(value for value, _ in options)
        choices.append((area, options))
    if extra and extra not in offered and _ACTION_RE.match(extra):
        choices.append(("typed", [(extra, f"{extra}*")]))
    return choices


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
