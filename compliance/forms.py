from datetime import timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from environments.models import Environment, Project
from opsportal.forms import BootstrapFormMixin

from .choices import Decision, Scope
from .selection import kind_choices


class CampaignForm(BootstrapFormMixin, forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Default: from the scope.")
    scope = forms.ChoiceField(choices=[c for c in Scope.choices if c[0] != Scope.VARIABLES])
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.select_related("project"), required=False
    )
    project = forms.ModelChoiceField(queryset=Project.objects.all(), required=False)
    kind = forms.ChoiceField(choices=[("", "---------")], required=False)
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.order_by("username"),
        required=False,
        label="Readable by",
        help_text="Their role, the audit trail and the values they entered (docs/compliance.md).",
    )
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_active=True))
    due_date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "---------"), *kind_choices()]
        self.fields["due_date"].initial = timezone.localdate() + timedelta(days=14)


class WaiveForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(max_length=2000)


class CloseForm(BootstrapFormMixin, forms.Form):
    note = forms.CharField(max_length=2000, required=False)


class ReviewStartForm(BootstrapFormMixin, forms.Form):
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


class DecideForm(BootstrapFormMixin, forms.Form):
    decision = forms.ChoiceField(choices=[(Decision.KEEP, "Keep"), (Decision.REVOKE, "Revoke")])
    note = forms.CharField(max_length=2000, required=False)
