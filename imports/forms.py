import json
from decimal import Decimal

from django import forms

from opsportal.forms import BootstrapFormMixin

from . import normalise
from .choices import CommissionKind, JobKind, ReviewStatus
from .formats import LAYOUTS, MAX_BYTES, MAX_COLUMNS, column_key
from .models import ColumnPreset


class UploadForm(BootstrapFormMixin, forms.Form):
    file = forms.FileField(help_text=f"CSV or XLSX, up to {MAX_BYTES // 1_048_576} MB.")
    kind = forms.ChoiceField(
        choices=[("auto", "Recognise from the header"), *JobKind.choices], initial="auto"
    )
    batch_size = forms.IntegerField(min_value=10, max_value=50_000, initial=1000)
    preset = forms.ModelChoiceField(
        ColumnPreset.objects.all(), required=False,
        help_text="For files in another layout: a saved column mapping.",
    )  # fmt: skip

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1_048_576:.0f} MB; the limit is "
                f"{MAX_BYTES // 1_048_576} MB."
            )
        return upload


class ReasonForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(max_length=500, required=False)


class RollbackForm(BootstrapFormMixin, forms.Form):
    confirm = forms.CharField(help_text="Type the job number to confirm.")
    reason = forms.CharField(max_length=500)

    def __init__(self, *args, job=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job

    def clean_confirm(self):
        value = self.cleaned_data["confirm"].strip().lstrip("#")
        if self.job is None or value != str(self.job.pk):
            raise forms.ValidationError("Type the job number exactly.")
        return value


class ReviewForm(BootstrapFormMixin, forms.Form):
    decision = forms.ChoiceField(
        choices=[(ReviewStatus.VERIFIED, "Verify"), (ReviewStatus.REJECTED, "Reject")]
    )
    note = forms.CharField(max_length=1000, required=False)


class PresetForm(BootstrapFormMixin, forms.Form):
    """Name a mapping and give, for each field of the layout, the file's column that holds it.

    With ``headers`` (read from a sample file, see ``sample_headers``) each field is a pick list
    of those names, the one spelled like the field preselected; without, the name is typed."""

    name = forms.CharField(max_length=100)
    # the sample's header names, carried from the "read headers" step to the save
    headers = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, kind: str, headers: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.headers = headers or []
        by_key = {column_key(h): h for h in self.headers}
        for name in LAYOUTS[kind][0]:
            label = f"Column for “{name}”"
            if self.headers:
                self.fields[f"col_{name}"] = forms.ChoiceField(
                    label=label,
                    required=False,
                    choices=[("", "— not in the file —"), *((h, h) for h in self.headers)],
                    initial=by_key.get(column_key(name), ""),
                )
            else:
                self.fields[f"col_{name}"] = forms.CharField(
                    label=label, required=False, max_length=200
                )
        self.fields["headers"].initial = json.dumps(self.headers)
        for field in self.fields.values():
            if isinstance(field, forms.ChoiceField):
                field.widget.attrs.setdefault("class", "form-select")
            else:
                field.widget.attrs.setdefault("class", "form-control")

    def mapping(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(f"col_{name}", "").strip() for name in LAYOUTS[self.kind][0]
        }


def posted_headers(raw: str) -> list[str]:
    """The header names a page carried in its hidden field: the client's to send, so checked
    as any input (a list of at most MAX_COLUMNS short strings) and otherwise dropped."""
    try:
        value = json.loads(raw or "[]")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return []
    if not isinstance(value, list) or len(value) > MAX_COLUMNS:
        return []
    return [v for v in value if isinstance(v, str) and 0 < len(v) <= 200]


class SampleForm(BootstrapFormMixin, forms.Form):
    """A sample whose header the mapping page reads: a file, or one uploaded before."""

    sample = forms.FileField(
        required=False,
        label="Sample file",
        help_text="A CSV or XLSX in the layout to map; only its header is read (the first "
        "64 KB of a CSV; an XLSX up to 5 MB). Nothing is imported or kept.",
    )
    job = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label="…or the file of an earlier upload",
    )

    def __init__(self, *args, **kwargs):
        from .models import ImportJob

        super().__init__(*args, **kwargs)
        self.fields["job"].queryset = ImportJob.objects.order_by("-pk")
        self.fields["job"].widget.choices = self._recent()

    def _recent(self):
        from .models import ImportJob

        jobs = ImportJob.objects.order_by("-pk").only("pk", "original_name")[:20]
        return [("", "—"), *((j.pk, f"#{j.pk} {j.original_name}") for j in jobs)]


CENTS = Decimal("0.01")


def _rupiah(value: str, message: str = "Enter an amount in Rupiah, e.g. 150.000."):
    """Rupiah as operators type it (``150.000``, ``Rp 1.250.000``): a plain decimal field would
    read the Indonesian thousands dot as a decimal point and store 150."""
    try:
        amount = normalise.money(value)
    except normalise.Invalid:
        raise forms.ValidationError(message) from None
    # at the columns' two places, as the database gives it back: product_update compares the
    # settings as text, and 150000 against a stored 150000.00 would record a change
    return None if amount is None else amount.quantize(CENTS)


class ProductForm(BootstrapFormMixin, forms.Form):
    """A product's settings. The form only parses; ``services.product_update`` holds the rules
    (no negative price, percent at most 100, ...) and its errors come back onto these fields."""

    price = forms.CharField(
        required=False, max_length=40, help_text="Rupiah, e.g. 150.000. Empty: unknown."
    )
    commission_kind = forms.ChoiceField(
        choices=[("", "Not set (commissions wait for a setting)"), *CommissionKind.choices],
        required=False,
    )
    commission_value = forms.CharField(
        required=False, max_length=40,
        help_text="Percent points (20 = 20 %) or Rupiah per unit (50.000), after the kind.",
    )  # fmt: skip
    access_days = forms.IntegerField(
        required=False, help_text="Days of access a purchase gives. Empty: no limit or unknown."
    )
    reason = forms.CharField(max_length=500, required=False, help_text="Kept in the audit log.")

    def clean_price(self):
        return _rupiah(self.cleaned_data["price"])

    def clean_commission_value(self):
        value = self.cleaned_data["commission_value"].strip()
        if value.endswith("%"):
            value = value[:-1].strip()
        return _rupiah(value, "Enter a percent (20) or an amount in Rupiah (50.000).")

    def settings(self) -> dict:
        """The keyword arguments of ``services.product_update``."""
        return {name: self.cleaned_data[name] for name in self.fields}
