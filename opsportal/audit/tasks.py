"""django-q2 tasks of the audit trail (schedules: migrations, never the admin)."""

from django.conf import settings

from .checkpoints import CheckpointError
from .checkpoints import write_checkpoint as _write
from .services import checkpoint_failed


def write_checkpoint() -> str:
    """Every 15 minutes (migration 0008): a signed checkpoint of the chain head."""
    try:
        checkpoint = _write()
    except CheckpointError as exc:
        if settings.AUDIT_SIGNING_KEY:  # a refusal, not a portal that keeps no checkpoints
            checkpoint_failed(reason=str(exc), via="the 15-minute checkpoint")
        raise
    return f"checkpoint of event #{checkpoint['seq']} signed with {checkpoint['key_id']}"
