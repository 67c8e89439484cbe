from django import forms

from opsportal.accounts.roles import ADMIN, ROLES
from opsportal.forms import BootstrapFormMixin

from .models import ServiceAccount
from .scopes import SCOPES
from .services import DEFAULT_EXPIRES_DAYS, MAX_EXPIRES_DAYS


class TokenForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What uses it, e.g. GitHub Actions deploy, my laptop."
    )
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {text}") for name, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        help_text="Only what the job needs. The token can never do more than its owner may.",
    )
    expires_days = forms.IntegerField(
        label="Expires after (days)",
        min_value=1,
        max_value=MAX_EXPIRES_DAYS,
        initial=DEFAULT_EXPIRES_DAYS,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # CheckboxSelectMultiple renders its own boxes: no form-control on the list.
        self.fields["scopes"].widget.attrs.pop("class", None)


class ServiceTokenForm(TokenForm):
    account = forms.ModelChoiceField(
        queryset=ServiceAccount.objects.select_related("user"), label="Service account"
    )
    field_order = ["account", "name", "scopes", "expires_days"]


class ServiceAccountForm(BootstrapFormMixin, forms.Form):
    username = forms.CharField(max_length=150, help_text="e.g. ci-deploy")
    role = forms.ChoiceField(
        choices=[(r, r) for r in ROLES if r != ADMIN],
        initial="operator",
        help_text="What the pipeline may do: viewer for a health gate, operator to import or "
        "start runs.",
    )
    description = forms.CharField(max_length=200, required=False)


class RevokeForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
