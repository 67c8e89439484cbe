"""Forms of the sample verification pages (the rules live in ``services.verification``)."""

from django import forms

from opsportal.forms import BootstrapFormMixin

from . import verification
from .choices import JobStatus, SampleMark
from .models import ImportJob


class VerificationStartForm(BootstrapFormMixin, forms.Form):
    size = forms.IntegerField(
        min_value=1, max_value=verification.MAX_SIZE, initial=verification.DEFAULT_SIZE,
        help_text="Members to draw (all of them when the jobs wrote fewer).",
    )  # fmt: skip
    seed = forms.IntegerField(
        required=False, min_value=0,
        help_text="Leave empty for a random seed. The same seed draws the same members again.",
    )  # fmt: skip
    also = forms.ModelMultipleChoiceField(
        queryset=ImportJob.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Verify together with",
        help_text="Other completed imports of the same migration: one sample over all of them.",
    )

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["also"].queryset = (
            ImportJob.objects.filter(status=JobStatus.COMPLETED).exclude(pk=job.pk).order_by("-pk")
        )
        self.fields["also"].label_from_instance = lambda j: f"#{j.pk} {j.original_name}"


class MarkForm(BootstrapFormMixin, forms.Form):
    mark = forms.ChoiceField(choices=[(SampleMark.CORRECT, "Correct"), (SampleMark.WRONG, "Wrong")])
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required when wrong: what differs from the source rows.",
    )  # fmt: skip
