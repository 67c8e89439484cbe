from django import forms
from django.utils.html import format_html

from opsportal.forms import BootstrapFormMixin

from . import parsers
from .choices import Provider, Tier
from .models import Environment

REASON_HELP = "Why: stored with the change and shown to the approver."
SECRET_CHOICES = [
    ("auto", "Suggest from the name and value"),
    ("yes", "Secret"),
    ("no", "Not secret"),
]


def _tri(value: str) -> bool | None:
    return {"yes": True, "no": False}.get(value)


class NoEchoTextarea(forms.Textarea):
    """A textarea that never renders its value back: pasted text may hold secrets."""

    def format_value(self, value):
        return ""


class ReasonMixin:
    """A reason is mandatory for anything touching a protected environment."""

    protected_env: Environment | None = None

    def clean_reason(self):
        reason = self.cleaned_data.get("reason", "").strip()
        if self.protected_env is not None and self.protected_env.protected and not reason:
            raise forms.ValidationError(
                f"{self.protected_env} is protected: give a reason for the approver."
            )
        return reason


class ProjectForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.SlugField(max_length=100, required=False, help_text="Left empty: from the name.")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class EnvironmentForm(ReasonMixin, BootstrapFormMixin, forms.Form):
    name = forms.CharField(max_length=60)
    tier = forms.ChoiceField(choices=Tier.choices)
    branch = forms.CharField(max_length=200, required=False)
    url = forms.URLField(required=False, assume_scheme="https")
    protected = forms.ChoiceField(
        choices=[
            ("default", "Default (production is protected)"),
            ("yes", "Protected"),
            ("no", "Not protected"),
        ],
        help_text="Changes to a protected environment need a second person's approval.",
    )
    maintenance_window = forms.CharField(max_length=200, required=False)
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    reason = forms.CharField(required=False, help_text=REASON_HELP)

    def __init__(self, *args, environment: Environment | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.protected_env = environment
        if environment is not None:
            self.fields["protected"].choices = [("yes", "Protected"), ("no", "Not protected")]

    def settings(self) -> dict:
        data = {
            f: self.cleaned_data[f]
            for f in ("name", "tier", "branch", "url", "maintenance_window", "notes")
        }
        protected = self.cleaned_data["protected"]
        data["protected"] = None if protected == "default" else protected == "yes"
        return data


class ConfigVarForm(ReasonMixin, BootstrapFormMixin, forms.Form):
    key = forms.CharField(max_length=200)
    value = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A secret's value is fingerprinted and forgotten. "
        "Leave empty to keep the current value.",
    )
    secret = forms.ChoiceField(choices=SECRET_CHOICES, initial="auto", label="Secret?")
    required = forms.BooleanField(required=False)
    description = forms.CharField(max_length=300, required=False)
    example = forms.CharField(
        max_length=300, required=False, help_text="Shown in .env.example; never a real secret."
    )
    owner = forms.CharField(max_length=100, required=False)
    source = forms.CharField(
        max_length=100, required=False, help_text="e.g. Infisical, Doppler, Vercel"
    )
    rotation_period_days = forms.IntegerField(min_value=1, max_value=3650, required=False)
    reason = forms.CharField(required=False, help_text=REASON_HELP)

    def __init__(self, *args, environment: Environment, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.protected_env = environment
        if editing:
            self.fields["key"].disabled = True

    def clean_key(self):
        key = self.cleaned_data["key"].strip()
        if not parsers.KEY_RE.match(key):
            raise forms.ValidationError(
                "Letters, digits and underscores only, not starting with a digit."
            )
        return key

    def meta(self) -> dict:
        return {
            f: self.cleaned_data[f]
            for f in (
                "required",
                "description",
                "example",
                "owner",
                "source",
                "rotation_period_days",
            )
        }

    def is_secret(self) -> bool | None:
        return _tri(self.cleaned_data["secret"])


class ConfirmDeleteForm(ReasonMixin, BootstrapFormMixin, forms.Form):
    confirm = forms.CharField(label="Type the variable name to confirm")
    reason = forms.CharField(required=False, help_text=REASON_HELP)

    def __init__(self, *args, key: str, environment: Environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = key
        self.protected_env = environment

    def clean_confirm(self):
        if self.cleaned_data["confirm"].strip() != self.key:
            raise forms.ValidationError(f"Type {self.key} exactly to delete it.")
        return self.key


class RotateForm(ReasonMixin, BootstrapFormMixin, forms.Form):
    new_value = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Paste the new value from the secret manager: only its fingerprint is recorded.",
    )
    reason = forms.CharField(required=False, help_text=REASON_HELP)

    def __init__(self, *args, environment: Environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.protected_env = environment


class ImportForm(ReasonMixin, BootstrapFormMixin, forms.Form):
    text = forms.CharField(
        required=False,
        strip=False,
        label="Paste",
        widget=NoEchoTextarea(
            attrs={"rows": 10, "autocomplete": "off", "spellcheck": "false", "class": "font-mono"}
        ),
        help_text=".env, `npx convex env list` output, `vercel env pull` file, a Doppler or "
        "Infisical download, Vercel or Render API JSON, a compose environment block or the "
        "team's Markdown table: the shape is recognised. After an error, paste again: the text "
        "is never shown back, it may hold secrets.",
    )
    upload = forms.FileField(required=False, label="…or upload a file")
    format = forms.ChoiceField(
        required=False,
        choices=[("auto", "auto: recognise the shape"), *parsers.SHAPES.items()],
        initial="auto",
        help_text="auto recognises every shape; choose one only to override it",
    )
    remove_missing = forms.BooleanField(
        required=False, label="Remove variables that are not in the input"
    )
    keep_tool_vars = forms.BooleanField(
        required=False,
        label="Keep tool bookkeeping",
        help_text="VERCEL_ENV, VERCEL_GIT_*, TURBO_*, NX_DAEMON, DOPPLER_CONFIG, INFISICAL_* … "
        "are skipped unless this is checked.",
    )
    secret_keys = forms.CharField(
        required=False, label="Always secret", help_text="Comma-separated keys."
    )
    public_keys = forms.CharField(
        required=False,
        label="Not secret",
        help_text="Comma-separated keys to keep in the clear "
        "(credential-shaped values stay secret).",
    )
    reason = forms.CharField(required=False, help_text=REASON_HELP)

    def __init__(self, *args, environment: Environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.protected_env = environment

    def clean_format(self):
        return self.cleaned_data.get("format") or "auto"

    def clean(self):
        data = super().clean()
        upload = data.get("upload")
        if upload is not None:
            if upload.size > parsers.MAX_BYTES:
                raise forms.ValidationError(
                    f"The file is {upload.size:,} bytes; the limit is {parsers.MAX_BYTES:,} bytes."
                )
            try:
                data["text"] = parsers.decode(upload.read(parsers.MAX_BYTES + 1))
            except parsers.ParseError as exc:
                raise forms.ValidationError(f"{upload.name}: {exc}") from None
            data["filename"] = upload.name
        elif not data.get("text", "").strip():
            raise forms.ValidationError("Paste variables or upload a file.")
        else:
            data["filename"] = ""
        return data

    @staticmethod
    def _keys(value: str) -> list[str]:
        return [k.strip() for k in value.replace("\n", ",").split(",") if k.strip()]

    def secret_list(self) -> list[str]:
        return self._keys(self.cleaned_data.get("secret_keys", ""))

    def public_list(self) -> list[str]:
        return self._keys(self.cleaned_data.get("public_keys", ""))


class DeploymentForm(ReasonMixin, BootstrapFormMixin, forms.Form):
    provider = forms.ChoiceField(choices=Provider.choices)
    identifier = forms.CharField(max_length=200, help_text="e.g. prod:basic-oriole-337")
    url = forms.URLField(required=False, assume_scheme="https")
    reason = forms.CharField(required=False, help_text=REASON_HELP)

    def __init__(self, *args, environment: Environment, **kwargs):
        super().__init__(*args, **kwargs)
        self.protected_env = environment


class ReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ApproveForm(BootstrapFormMixin, forms.Form):
    """The approver's note, and for production the environment's name typed as confirmation.
    A wrong confirmation is an error next to it; the note stays as typed."""

    reason = forms.CharField(
        label="Note (optional)", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    confirm = forms.CharField(required=False, widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, environment, **kwargs):
        kwargs.setdefault("auto_id", "approve-%s")
        super().__init__(*args, **kwargs)
        self.environment = environment
        if environment.tier == Tier.PRODUCTION:
            self.fields["confirm"].required = True
            self.fields["confirm"].label = format_html(
                "Type <code>{}</code> to apply this change to production", environment.name
            )
        else:
            del self.fields["confirm"]

    def clean_confirm(self):
        typed = self.cleaned_data.get("confirm", "").strip()
        if typed != self.environment.name:
            raise forms.ValidationError(
                f"Type {self.environment.name} to confirm a change to production."
            )
        return typed


class RejectForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(
        label="Reason for rejecting",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why it is rejected.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "reject-%s")
        super().__init__(*args, **kwargs)


class SupersedeForm(BootstrapFormMixin, forms.Form):
    """Which open request the author's newer one replaces, and why."""

    other = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    reason = forms.CharField(required=False, max_length=500)


class CompareForm(BootstrapFormMixin, forms.Form):
    source = forms.ModelChoiceField(queryset=Environment.objects.none())
    target = forms.ModelChoiceField(queryset=Environment.objects.none())

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        qs = project.environments.all()
        self.fields["source"].queryset = qs
        self.fields["target"].queryset = qs

    def clean(self):
        data = super().clean()
        if data.get("source") and data.get("source") == data.get("target"):
            raise forms.ValidationError("Pick two different environments to compare.")
        return data
        self.fields["source"].label_from_instance = lambda e: f"{e.name} ({e.get_tier_display()})"
        self.fields["target"].label_from_instance = lambda e: f"{e.name} ({e.get_tier_display()})"
