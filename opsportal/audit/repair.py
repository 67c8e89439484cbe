"""Redact credentials that events written before the classifier knew them still quote.

``record()`` masks what the classifier recognises; events from earlier versions were masked by
fewer rules (no webhook URLs, no Convex deploy keys, no ``NAME=value`` assignments…). Run by the
data migration ``0007_redact_known_credentials``: each field the current masking would change
is redacted through :func:`opsportal.audit.services._redact_one`, with its own
``audit.event.redacted`` event, so the chain still verifies.
"""

from django.db import transaction

from .chain import format_of, path_value, redactable_paths
from .masking import scrub
from .models import AuditEvent
from .services import _KEPT, REDACTED_ACTION, _is_redacted, _lock_head, _locked_row, _redact_one

REASON = "quoted a credential the masking of its time did not recognise"


def _quotes_credential(path: str, value) -> bool:
    if value in (None, "", {}, []) or isinstance(value, bool | int | float):
        return False
    key = path.removeprefix("changes.")
    wrapped = {key: value} if path.startswith("changes.") else value
    return scrub(wrapped) != wrapped


def redact_known_credentials(*, actor=None, chunk_size: int = 2000) -> int:
    """Redact every event field that quotes a credential; the number of fields redacted."""
    fields = ("pk", "seq", "action", "changes", "message", "target_repr", "actor_label")
    rows = (
        AuditEvent.objects.exclude(action=REDACTED_ACTION)
        .order_by("seq")
        .values_list(*fields)
        .iterator(chunk_size=chunk_size)
    )
    suspects = []
    for pk, _seq, action, changes, message, target_repr, actor_label in rows:
        view = {
            "changes": changes if isinstance(changes, dict) else {},
            "message": message,
            "target_repr": target_repr,
            "actor_label": actor_label,
        }
        kept = _KEPT.get(action, set())
        for path in redactable_paths(view):
            if path not in kept and _quotes_credential(path, path_value(view, path)):
                suspects.append((pk, path))
    redacted = 0
    with transaction.atomic():
        if suspects:
            _lock_head()
        for pk, path in suspects:
            row = _locked_row(pk)
            if row is None or format_of(row) == 1:  # not redactable (see the upgrade event)
                continue
            if _is_redacted(row, path) or path not in redactable_paths(row):
                continue
            _redact_one(actor, row, path, REASON)
            redacted += 1
    return redacted
