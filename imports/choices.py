from django.db import models


class JobKind(models.TextChoices):
    PRODUCTS = "products", "Product settings"
    USERS = "users", "Sejoli users"
    ORDERS = "orders", "Sejoli orders"
    COMMISSIONS = "commissions", "Sejoli commissions"
    SUBSCRIPTIONS = "subscriptions", "Sejoli subscriptions"
    SHEET_ORDERS = "sheet-orders", "Spreadsheet orders"
    SHEET_MEMBERSHIPS = "sheet-memberships", "Spreadsheet memberships"
    SHEET_AFFILIATES = "sheet-affiliates", "Spreadsheet affiliates"


# Product settings first (orders' commissions and access periods come from them), users before
# orders (orders name their buyer and affiliate), orders before commissions and subscriptions
# (both refer to orders or the affiliates orders created).
KIND_ORDER = [
    JobKind.PRODUCTS,
    JobKind.USERS,
    JobKind.ORDERS,
    JobKind.SHEET_ORDERS,
    JobKind.SHEET_AFFILIATES,
    JobKind.COMMISSIONS,
    JobKind.SUBSCRIPTIONS,
    JobKind.SHEET_MEMBERSHIPS,
]


class JobStatus(models.TextChoices):
    UPLOADED = "uploaded", "Uploaded"
    VALIDATING = "validating", "Validating"
    READY = "ready", "Ready to apply"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ROLLING_BACK = "rolling_back", "Rolling back"
    ROLLED_BACK = "rolled_back", "Rolled back"


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.ROLLING_BACK)


class OrderStatus(models.TextChoices):
    ON_HOLD = "on-hold", "Waiting for payment"
    PAYMENT_CONFIRM = "payment-confirm", "Payment confirmed"
    IN_PROGRESS = "in-progress", "Order processed"
    SHIPPING = "shipping", "Delivery process"
    COMPLETED = "completed", "Completed"
    REFUNDED = "refunded", "Refund"
    CANCELLED = "cancelled", "Cancelled"


class CommissionKind(models.TextChoices):
    """How Sejoli computes a product's affiliate commission (set per product in WordPress)."""

    PERCENT = "percent", "Percent of the order total"
    FIXED = "fixed", "Fixed Rupiah per unit"


class CommissionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ADDED = "added", "Added"
    CANCELLED = "cancelled", "Cancelled"
    PAID = "paid", "Paid"


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


class ReviewKind(models.TextChoices):
    AFFILIATE_MAPPING = "affiliate_mapping", "Affiliate mapping to verify"
    DUPLICATE_MEMBER = "duplicate_member", "Possible duplicate members"
    COMMISSION_MISMATCH = "commission_mismatch", "Commission mismatch"
    COMMISSION_SETTING = "commission_setting", "Product needs a commission setting"
    SAMPLE_WRONG = "sample_wrong", "Sampled member marked wrong"


class ReviewStatus(models.TextChoices):
    OPEN = "open", "Open"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"


class ChangeOp(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"


class VerificationStatus(models.TextChoices):
    """A sample verification: the sample drawn on the imports worker, items being marked, then
    completed with its signed report (or failed when a file could not be read)."""

    DRAWING = "drawing", "Drawing the sample"
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class SampleMark(models.TextChoices):
    PENDING = "pending", "Not checked yet"
    CORRECT = "correct", "Correct"
    WRONG = "wrong", "Wrong"
