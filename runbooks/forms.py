from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from environments.models import Environment, Project
from opsportal.forms import BootstrapFormMixin

from .choices import CheckType, SecondSignoff
from .plans import MAX_BYTES, PlanParseError, decode
from .services import MAX_EVIDENCE_BYTES, check_config_clean


class ImportForm(BootstrapFormMixin, forms.Form):
    file = forms.FileField(required=False, help_text="A Markdown plan (.md), at most 2 MB.")
    text = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 8}), label="…or paste Markdown"
    )
    project = forms.ModelChoiceField(queryset=Project.objects.all(), required=False)
    allowed_urls = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Origins automated checks may reach, one per line.",
    )

    def clean(self):
        data = super().clean()
        upload, text = data.get("file"), (data.get("text") or "")
        if upload:
            if upload.size > MAX_BYTES:
                raise ValidationError({"file": "The file is larger than 2 MB."})
            try:
                data["markdown"] = decode(upload.read())
            except PlanParseError as exc:
                raise ValidationError({"file": str(exc)}) from None
            data["source_name"] = upload.name
        elif text.strip():
            data["markdown"], data["source_name"] = text, "pasted.md"
        else:
            raise ValidationError("Upload a Markdown file or paste the plan.")
        return data


class ImportSaveForm(forms.Form):
    """Save on the import preview: the plan itself is kept server-side between the two steps."""


class StepForm(BootstrapFormMixin, forms.Form):
    title = forms.CharField(max_length=500)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    required = forms.BooleanField(required=False, initial=True)
    requires_second_signoff = forms.BooleanField(
        required=False,
        label="Needs a second sign-off (on protected environments)",
    )
    check_type = forms.ChoiceField(
        choices=CheckType.choices, required=False, label="Automated check"
    )
    url = forms.URLField(
        assume_scheme="https",
        required=False,
        label="Check URL",
        help_text="HTTP and latency checks. Its origin must be the environment's URL, one of "
        "its deployments' URLs, or listed in the runbook's settings.",
    )
    expected_status = forms.IntegerField(required=False, min_value=100, max_value=599)
    contains = forms.CharField(required=False, label="Body contains", max_length=200)
    timeout = forms.FloatField(required=False, min_value=0.1, label="Timeout (seconds)")
    requests = forms.IntegerField(required=False, min_value=1, max_value=500)
    percentile = forms.ChoiceField(
        required=False, choices=[("p50", "P50"), ("p95", "P95"), ("p99", "P99")], initial="p95"
    )
    threshold_ms = forms.FloatField(required=False, min_value=1, label="Threshold (ms)")
    other_environment = forms.ModelChoiceField(
        queryset=Environment.objects.select_related("project"),
        required=False,
        help_text="Key drift check: the environment to compare with.",
    )
    job_id = forms.IntegerField(required=False, min_value=1, label="Import job id")
    job_ids = forms.CharField(
        required=False,
        max_length=200,
        label="Import job ids",
        help_text="Sample verified check: the import jobs, separated by spaces.",
    )

    CONFIG_FIELDS = {
        CheckType.HTTP: ("url", "expected_status", "contains", "timeout"),
        CheckType.LATENCY: ("url", "requests", "percentile", "threshold_ms", "timeout"),
        CheckType.ENV_DRIFT: ("other_environment",),
        CheckType.ENV_CLEAN: (),
        CheckType.IMPORT_JOB: ("job_id",),
        CheckType.SAMPLE_VERIFIED: ("job_ids",),
    }

    @classmethod
    def initial_for(cls, step) -> dict:
        config = dict(step.check_config or {})
        initial = {
            "title": step.title,
            "body": step.body,
            "required": step.required,
            "requires_second_signoff": step.requires_second_signoff,
            "check_type": step.check_type,
        }
        for name in cls.CONFIG_FIELDS.get(step.check_type, ()):
            if name in config:
                value = config[name]
                initial[name] = " ".join(map(str, value)) if isinstance(value, list) else value
        return initial

    def clean(self):
        data = super().clean()
        check_type = data.get("check_type", "")
        config = {}
        for name in self.CONFIG_FIELDS.get(check_type, ()):
            value = data.get(name)
            if hasattr(value, "pk"):
                value = value.pk
            if value not in (None, ""):
                config[name] = value
        try:
            data["check_config"] = check_config_clean(check_type, config)
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise
            for field, errors in exc.error_dict.items():
                target = {"check_config": None}.get(field, field)
                if check_type in (CheckType.HTTP, CheckType.LATENCY) and field == "check_config":
                    target = "url"
                self.add_error(target if target in self.fields else None, errors)
        return data

    def service_kwargs(self) -> dict:
        keys = ("title", "body", "required", "requires_second_signoff", "check_type")
        return {
            **{k: self.cleaned_data[k] for k in keys},
            "check_config": self.cleaned_data["check_config"],
        }


class RunStartForm(BootstrapFormMixin, forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.select_related("project"))
    planned_start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    planned_end = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )

    def __init__(self, *args, runbook=None, **kwargs):
        super().__init__(*args, **kwargs)
        if runbook is not None and runbook.project_id:
            self.fields["environment"].queryset = self.fields["environment"].queryset.filter(
                project_id=runbook.project_id
            )
        now = timezone.localtime().replace(second=0, microsecond=0)
        self.fields["planned_start"].initial = now
        self.fields["planned_end"].initial = now + timezone.timedelta(hours=1)


class SignForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)
    evidence_text = forms.CharField(required=False, max_length=200_000)
    evidence_file = forms.FileField(required=False)

    def clean_evidence_file(self):
        f = self.cleaned_data.get("evidence_file")
        if f and f.size > MAX_EVIDENCE_BYTES:
            raise ValidationError(
                f"The file is {f.size / 1024 / 1024:.1f} MB; evidence files are limited to 10 MB."
            )
        return f


class ReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)


class RunbookSettingsForm(BootstrapFormMixin, forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.all(), required=False)
    second_signoff = forms.ChoiceField(
        choices=SecondSignoff.choices,
        required=False,  # left out: unchanged
        label="Second sign-off on protected environments",
        help_text="Which steps of a run on a protected environment wait for a second person. "
        "Steps marked <code>&lt;!-- ops: second-signoff --&gt;</code> in the plan always do; "
        "a run keeps the setting it started with.",
    )
    allowed_urls = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Origins automated checks may reach besides the run's environment URLs, "
        "one per line (https://status.example.com).",
    )
