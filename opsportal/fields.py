"""Model fields for free text: whatever a person types is masked before it is stored.

Sign-off notes, reasons, descriptions and pasted output reach the database through many paths
(forms, services, commands, ``QuerySet.update``, ``bulk_create``). Masking in the field itself is
the one place none of them can skip: ``pre_save`` masks the instance's value (so what the service
audits and renders afterwards is the masked text too) and ``get_prep_value`` masks whatever else
reaches the database, including ``update()`` and bulk writes. What counts as a credential is
decided by :mod:`opsportal.credentials`.

``tests/core/test_free_text_fields.py`` fails when a model gains a text field that is neither
masked nor listed there as structured data (names, codes, hashes).
"""

from typing import Any

from django.db import models

from opsportal.audit.masking import scrub_text


def mask_json(value: Any) -> Any:
    """Every string leaf of a JSON value, masked. Keys are structure and stay as they are."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: mask_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json(v) for v in value]
    return value


class _MaskedMixin:
    masks_free_text = True

    def mask(self, value):
        return scrub_text(value) if isinstance(value, str) else value

    def pre_save(self, model_instance, add):
        value = super().pre_save(model_instance, add)
        masked = self.mask(value)
        if masked is not value:
            setattr(model_instance, self.attname, masked)
        return masked

    def get_prep_value(self, value):
        return super().get_prep_value(self.mask(value))


class MaskedTextField(_MaskedMixin, models.TextField):
    """A ``TextField`` whose credentials are masked before they are stored."""


class MaskedCharField(_MaskedMixin, models.CharField):
    """A ``CharField`` whose credentials are masked before they are stored.

    Masking can lengthen a short credential (``*** fp:`` + 16 hex); the stored text is cut to
    ``max_length`` rather than refused.
    """

    def mask(self, value):
        if not isinstance(value, str):
            return value
        masked = scrub_text(value)
        if masked != value and self.max_length and len(masked) > self.max_length:
            masked = masked[: self.max_length]
        return masked


class MaskedURLField(MaskedCharField, models.URLField):
    """A ``URLField`` whose password, key or token parts are masked (``user:***@host``)."""


def mask_json_keys(value: Any, keys: frozenset[str]) -> Any:
    """Mask only what sits under one of ``keys`` (at any depth); the rest is structure."""
    if isinstance(value, dict):
        return {k: mask_json(v) if k in keys else mask_json_keys(v, keys) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_json_keys(v, keys) for v in value]
    return value


class MaskedJSONField(_MaskedMixin, models.JSONField):
    """A ``JSONField`` (rejected rows, check results) whose string values are masked.

    ``mask_keys`` limits masking to the values under those keys, for documents that mix typed
    text with exact data (a change request's payload: notes and descriptions beside public
    values and fingerprints that must stay byte-for-byte what they were).
    """

    def __init__(self, *args, mask_keys=None, **kwargs):
        self.mask_keys = frozenset(mask_keys) if mask_keys else None
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.mask_keys:
            kwargs["mask_keys"] = sorted(self.mask_keys)
        return name, path, args, kwargs

    def mask(self, value):
        if self.mask_keys:
            return mask_json_keys(value, self.mask_keys)
        return mask_json(value)
