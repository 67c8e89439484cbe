"""Repairs run by data migrations when the portal learns to recognise a credential it kept.

Masked fields (``opsportal.fields``) mask on every write from now on; rows written before keep
what they held until these run. Each repaired row gets its audit event (what was masked, never
the text), so a repair is as visible as any other change.
"""

from django.db import transaction

from opsportal.audit.services import record


def mask_existing_free_text(
    apps, app_label: str, *, chunk_size: int = 2000, only: frozenset[str] = frozenset()
) -> int:
    """Mask credentials in every masked column of ``app_label``'s rows; the rows changed.

    Works on the migration's historical models: their masked fields are the same classes, so
    ``mask`` is the one used on every write. ``only`` (``"model.field"`` names) limits the
    repair to the columns a migration has just made masked.
    """
    repaired = 0
    for model in apps.get_app_config(app_label).get_models():
        fields = [
            f
            for f in model._meta.concrete_fields
            if getattr(f, "masks_free_text", False)
            and (not only or f"{model._meta.model_name}.{f.name}" in only)
        ]
        if not fields:
            continue
        names = [f.attname for f in fields]
        label = f"{app_label}.{model._meta.model_name}"
        rows = model._default_manager.values_list("pk", *names).order_by("pk")
        for pk, *values in rows.iterator(chunk_size=chunk_size):
            changed = {}
            for field, value in zip(fields, values, strict=True):
                if value in (None, "", {}, []):
                    continue
                masked = field.mask(value)
                if masked != value:
                    changed[field.attname] = masked
            if not changed:
                continue
            with transaction.atomic():
                model._default_manager.filter(pk=pk).update(**changed)
                record(
                    actor=None,
                    action="data.free_text.masked",
                    target_type=label,
                    target_id=pk,
                    changes={"fields": sorted(changed)},
                    message="credentials in stored free text replaced by their fingerprints",
                )
            repaired += 1
    return repaired
