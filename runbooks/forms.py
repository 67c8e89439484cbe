import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from environments.models import Environment, Project
from opsportal.forms import BootstrapFormMixin

from .choices import CheckType
from .markdown import MAX_BYTES, PlanParseError, decode
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


class StepForm(BootstrapFormMixin, forms.Form):
    title = forms.CharField(max_length=500)
    body = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))
    required = forms.BooleanField(required=False, initial=True)
    requires_second_signoff = forms.BooleanField(
        required=False,
        label="Needs a second sign-off (on protected environments)",
    )
    check_type = forms.ChoiceField(choices=CheckType.choices, required=False)
    check_config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='JSON, e.g. {"url": "https://app.example.com/health", "expected_status": 200, '
        '"contains": "ok", "timeout": 5} or {"url": ..., "requests": 20, "percentile": "p95", '
        '"threshold_ms": 500} or {"other_environment": 3} or {"job_id": 12}.',
    )

    def clean_check_config(self):
        raw = (self.cleaned_data.get("check_config") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, dict):
            raise ValidationError("The check configuration must be a JSON object.")
        return value

    def clean(self):
        data = super().clean()
        if "check_config" in data:
            try:
                data["check_config"] = check_config_clean(
                    data.get("check_type", ""), data["check_config"]
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.error_dict.items():
                        self.add_error(field if field in self.fields else None, errors)
                else:
                    raise
        return data


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
    allowed_urls = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Origins automated checks may reach besides the run's environment URLs, "
        "one per line (https://status.example.com).",
    )
