from django import forms
from django.conf import settings

from opsportal.forms import BootstrapFormMixin

from .zones import zone_names


class AccountSettingsForm(BootstrapFormMixin, forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Every time on the portal's pages is shown in this zone. Exports and reports "
        "state their zone with each time.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [
            ("", f"Portal default ({settings.TIME_ZONE})"),
            *((name, name.replace("_", " ")) for name in zone_names()),
        ]
        self.fields["time_zone"].widget.attrs["data-browser-zone"] = ""
