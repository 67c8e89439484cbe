"""Every free-text column masks credentials before it is stored.

A new ``TextField``/``JSONField``, or a ``CharField`` long enough to hold a sentence, fails this
test until it is either a ``Masked*Field`` (``opsportal.fields``) or listed below as structured
data, with the reason it cannot hold typed text.
"""

import pytest
from django.apps import apps
from django.db import models

from opsportal.fields import MaskedTextField

OUR_APPS = (
    "audit", "environments", "runbooks", "imports", "accounts", "deployments", "api",
    "notifications", "sejolisync", "operations", "compliance", "mailings",
)  # fmt: skip

STRUCTURED = {
    # The audit row is masked by record() itself (scrub of changes/message/target_repr) and its
    # hashed columns must stay byte-for-byte what was hashed.
    "audit.AuditEvent.actor_label": "username or system label",
    "audit.AuditEvent.target_repr": "masked by record()",
    "audit.AuditEvent.changes": "masked by record()",
    "audit.AuditEvent.message": "masked by record()",
    "audit.AuditEvent.user_agent": "browser user agent header",
    "audit.AuditEvent.redactions": "salts and commitments of redacted fields",
    "environments.Environment.branch": "git branch name",
    "environments.ProviderDeployment.identifier": "deployment name",
    "environments.ConfigVar.key": "variable name",
    "environments.ConfigVar.value": "public value: the classifier decides (enforce_secret)",
    "environments.ConfigVar.detail": "public shape from the classifier (host, deployment)",
    "environments.ChangeRequest.payload": "public form of a change: built by value_state",
    "runbooks.RunbookVersion.source_name": "uploaded file name",
    "runbooks.StepRun.evidence_name": "uploaded file name (masked in the audit event by record())",
    "imports.ImportRowChange.before": "before-image of an imported row, for rollback",
    "imports.ColumnPreset.mapping": "column name mapping",
    "imports.Member.name": "member's name from the export",
    "imports.Member.email": "member's e-mail address",
    "imports.SejoliAccount.email": "account e-mail address",
    "imports.AffiliateProfile.email": "affiliate's e-mail address",
    "imports.Member.referrer_name": "member's name from the export",
    "imports.Product.name": "product name, the natural key",
    "imports.AffiliateProfile.name": "affiliate's name from the export",
    "imports.ReviewItem.key": "natural key of the reviewed record",
    "mailings.Campaign.dry_run": "counts and a timestamp written by campaign_dry_run",
    "api.ApiToken.scopes": "scope names checked against opsportal.api.scopes.SCOPES",
    "deployments.Deployment.external_id": "provider's deployment id: printable, no spaces",
    "deployments.WebhookDelivery.delivery_id": "provider's delivery id of a verified webhook",
    "notifications.Channel.events": "event keys checked against the notify registry",
    "notifications.Channel.url_encrypted": "Fernet ciphertext of the webhook URL",
    "sejolisync.ShopHook.signing_secret_encrypted": "Fernet ciphertext of the signing secret",
    "notifications.Channel.url_host": "host name the classifier shows of the URL",
    "notifications.Notification.key": "event key and audit seq or object id (dedupe key)",
    "notifications.Notification.url": "portal path (reverse()), not typed text",
    "notifications.Mark.key": "hook name and object id, e.g. hygiene:12",
    "notifications.Mark.value": "a notify hook's state: finding codes and variable names",
    "compliance.RotationItem.environment_label": "copy of str(environment): project / name",
    "compliance.RotationItem.key": "variable name",
    "compliance.AccessReviewLine.username": "username of the reviewed login",
}


def _text_fields():
    for model in apps.get_models():
        if model._meta.app_label not in OUR_APPS:
            continue
        for field in model._meta.concrete_fields:
            if field.choices or isinstance(field, models.SlugField | models.EmailField):
                continue
            long_char = isinstance(field, models.CharField) and (field.max_length or 0) >= 150
            if isinstance(field, models.TextField | models.JSONField) or long_char:
                yield f"{model._meta.label}.{field.name}", field


def test_every_free_text_field_masks_or_is_listed_as_structured():
    unmasked = [
        label
        for label, field in _text_fields()
        if not getattr(field, "masks_free_text", False) and label not in STRUCTURED
    ]
    assert not unmasked, (
        "free-text fields that store what people type without masking it: "
        + ", ".join(unmasked)
        + " — use opsportal.fields.Masked*Field, or list them in STRUCTURED with a reason"
    )


def test_structured_list_names_real_fields():
    labels = {label for label, _f in _text_fields()}
    stale = [label for label in STRUCTURED if label not in labels]
    # A renamed field must not keep an exemption it no longer needs.
    assert not [s for s in stale if not s.startswith("audit.AuditEvent.redactions")], stale


@pytest.mark.django_db
def test_every_write_path_masks(django_user_model):
    """save(), QuerySet.update() and bulk_create() all store the masked text."""
    from environments.models import Project

    secret = "sk_live_" + "Q7w" * 10
    project = Project.objects.create(name="p", slug="p", description=f"key {secret}")
    assert secret not in project.description  # the instance holds what was stored
    assert secret not in Project.objects.get(pk=project.pk).description
    Project.objects.filter(pk=project.pk).update(description=f"again {secret}")
    assert secret not in Project.objects.get(pk=project.pk).description
    Project.objects.bulk_create([Project(name="q", slug="q", description=secret)])
    assert secret not in Project.objects.get(slug="q").description
    assert isinstance(Project._meta.get_field("description"), MaskedTextField)
