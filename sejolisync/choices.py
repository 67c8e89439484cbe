from django.db import models

from imports.choices import OrderStatus

# Where an order status stands in Sejoli's lifecycle. A delivery whose status ranks below the
# order's stored status is older news and never moves the order back (see services.RULE).
# Refunded and cancelled end an order; a refund follows a payment, so it ranks last.
STATUS_RANK = {
    OrderStatus.ON_HOLD: 1,
    OrderStatus.PAYMENT_CONFIRM: 2,
    OrderStatus.IN_PROGRESS: 3,
    OrderStatus.SHIPPING: 4,
    OrderStatus.COMPLETED: 5,
    OrderStatus.CANCELLED: 6,
    OrderStatus.REFUNDED: 7,
}


class DeliveryState(models.TextChoices):
    QUEUED = "queued", "Queued"
    PROCESSED = "processed", "Processed"
    DUPLICATE = "duplicate", "Duplicate (already applied)"
    STALE = "stale", "Older than the stored state"
    SKIPPED = "skipped", "Skipped (processing switched off)"
    INVALID = "invalid", "Invalid payload"
    FAILED = "failed", "Failed"


# States a replay may pick up again.
REPLAYABLE = (DeliveryState.FAILED, DeliveryState.INVALID, DeliveryState.SKIPPED)


class RefusalReason(models.TextChoices):
    UNKNOWN_TOKEN = "unknown_token", "Unknown or disabled hook"
    BAD_SIGNATURE = "bad_signature", "Missing or wrong signature"
    TOO_LARGE = "too_large", "Body too large"
    UNREADABLE = "unreadable", "Body not JSON or form fields"
