from django import forms

from imports.choices import JobStatus, MembershipStatus
from imports.models import ImportJob, Product
from opsportal.forms import BootstrapFormMixin

from . import rendering

FIELDS_HELP = "Fields: " + ", ".join(f"<code>{{{{ {name} }}}}</code>" for name in rendering.FIELDS)


class CampaignForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(max_length=200)
    job = forms.ModelChoiceField(
        ImportJob.objects.filter(status=JobStatus.COMPLETED),
        required=False,
        label="Members of import",
        help_text="Members this import created or touched (empty: every member).",
    )
    product = forms.ModelChoiceField(Product.objects.all(), required=False)
    membership_status = forms.ChoiceField(
        choices=[("", "any"), *MembershipStatus.choices], required=False
    )
    subject_template = forms.CharField(label="Subject", max_length=1000)
    body_template = forms.CharField(
        label="Body", widget=forms.Textarea(attrs={"rows": 10}), help_text=FIELDS_HELP
    )
    rate = forms.FloatField(
        required=False,
        min_value=0,
        label="Messages per second",
        help_text="0: as fast as the e-mail backend takes them; empty: MAILINGS_RATE.",
    )
    batch_size = forms.IntegerField(required=False, min_value=1, max_value=1000)
    from_email = forms.EmailField(required=False, label="From (empty: DEFAULT_FROM_EMAIL)")

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:  # the audience is fixed once the campaign exists
            for name in ("job", "product", "membership_status"):
                del self.fields[name]


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=500, required=False)
