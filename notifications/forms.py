from django import forms

from environments.models import Project
from opsportal.forms import BootstrapFormMixin

from . import registry
from .models import Channel, ChannelKind, Mode


class ChannelForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="How people know it, e.g. #ops-alerts.")
    kind = forms.ChoiceField(choices=ChannelKind.choices)
    url = forms.CharField(
        label="Webhook URL",
        max_length=2000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="A secret: stored encrypted and never shown again (only its kind, host and "
        "last characters).",
    )
    project = forms.ModelChoiceField(
        queryset=Project.objects.order_by("name"),
        required=False,
        empty_label="All projects (and the portal's own events)",
    )
    events = forms.MultipleChoiceField(
        choices=(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    enabled = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, channel: Channel | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = [(e.key, e.label) for e in registry.event_types().values()]
        self.fields["events"].widget.attrs["class"] = "form-check-input"
        if channel is not None:
            self.fields["url"].required = False
            self.fields["url"].help_text = (
                f"Stored: {channel.url_shown}. Leave empty to keep it; paste a new one to "
                "replace it."
            )


class PreferencesForm(forms.Form):
    """One choice per event: e-mail at once, in the daily digest, or not at all."""

    def __init__(self, *args, current: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        for event in registry.event_types().values():
            field = forms.ChoiceField(
                label=event.label,
                choices=Mode.choices,
                required=False,  # left out: unchanged
                initial=current.get(event.key, event.default),
                help_text=f"Sent to {event.audience}.",
            )
            field.widget.attrs["class"] = "form-select form-select-sm"
            field.event = event
            self.fields[event.key] = field

    def rows(self):
        return [(self[name], self.fields[name].event) for name in self.fields]
