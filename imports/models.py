"""Member data moved out of Sejoli, and the import jobs that move it.

Every domain row carries ``job`` (the last import that created or changed it); the per-row
before-images live in ``ImportRowChange`` so a job can be rolled back exactly.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from opsportal.fields import MaskedCharField, MaskedJSONField, MaskedTextField

from .choices import (
    ACTIVE_STATUSES,
    ChangeOp,
    CommissionKind,
    CommissionStatus,
    JobKind,
    JobStatus,
    MembershipStatus,
    OrderStatus,
    ReviewKind,
    ReviewStatus,
    SampleMark,
    VerificationStatus,
)


class ImportJobQuerySet(models.QuerySet):
    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)

    def needing_attention(self):
        return self.filter(
            status__in=[*ACTIVE_STATUSES, JobStatus.READY, JobStatus.VALIDATING, JobStatus.FAILED]
        )


class ImportJob(models.Model):
    """One uploaded file on its way into the member tables: validate → preview → apply."""

    kind = models.CharField(max_length=32, choices=JobKind.choices)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.UPLOADED)
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = MaskedCharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=16, blank=True)
    delimiter = models.CharField(max_length=4, blank=True)
    batch_size = models.PositiveIntegerField(default=1000)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="followups"
    )
    # Counters: validation fills the preview_* ones, apply the others.
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    preview = MaskedJSONField(default=dict, blank=True)
    # Number of batches committed; resume starts at this batch.
    checkpoint = models.PositiveIntegerField(default=0)
    rollback_checkpoint = models.PositiveIntegerField(default=0)
    rollback_conflicts = MaskedJSONField(default=list, blank=True)
    error = MaskedTextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # The same file is never applied (or rolled back) twice at once.
            models.UniqueConstraint(
                fields=["sha256", "kind"],
                condition=Q(status__in=[s.value for s in ACTIVE_STATUSES]),
                name="imports_one_active_job_per_file",
            )
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.kind} {self.original_name}"

    def get_absolute_url(self) -> str:
        return reverse("imports:job_detail", args=[self.pk])

    @property
    def percent(self) -> int:
        if self.status in (JobStatus.COMPLETED, JobStatus.ROLLED_BACK):
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))

    @property
    def rows_per_second(self) -> float:
        return round(self.processed_rows / self.seconds, 1) if self.seconds else 0.0

    @property
    def eta_seconds(self) -> int:
        rate = self.rows_per_second
        return int((self.total_rows - self.processed_rows) / rate) if rate else 0

    @property
    def batches(self) -> int:
        return -(-self.total_rows // self.batch_size) if self.batch_size else 0


def job_key() -> models.ForeignKey:
    """The import job that last created or changed a row. Not checked by the database:
    PostgreSQL checks deferred foreign keys one row at a time at commit (~0.7 s per 100k rows,
    measured), jobs are never deleted, and Django still applies ``on_delete`` itself."""
    return models.ForeignKey(
        ImportJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )


class ImportRowError(models.Model):
    """A row the job rejected, with its row number (1 = first data row), key and reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row = models.PositiveIntegerField()
    key = models.CharField(max_length=100, blank=True)
    reason = MaskedCharField(max_length=200)
    raw = MaskedJSONField(default=dict, blank=True)

    class Meta:
        ordering = ["row", "pk"]

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"

    def get_absolute_url(self) -> str:
        return self.job.get_absolute_url()


class ImportRowChange(models.Model):
    """The before-image of a row a job created or updated, and a hash of what the job left."""

    # the (job, model, object_pk) index below serves job lookups: no second index to maintain
    job = models.ForeignKey(
        ImportJob,
        on_delete=models.CASCADE,
        related_name="changes",
        db_index=False,
        db_constraint=False,  # see job_key
    )
    model = models.CharField(max_length=64)
    object_pk = models.BigIntegerField()
    op = models.CharField(max_length=8, choices=ChangeOp.choices)
    before = models.JSONField(null=True, blank=True)
    after_hash = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["job", "model", "object_pk"])]

    def __str__(self) -> str:
        return f"{self.op} {self.model}#{self.object_pk}"

    def get_absolute_url(self) -> str:
        return self.job.get_absolute_url()


class ColumnPreset(models.Model):
    """A saved mapping of a file's column names to the fields of a known layout."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=32, choices=JobKind.choices)
    mapping = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("imports:job_list")


class Member(models.Model):
    """A person, deduplicated by normalised email (then phone when the email is missing)."""

    email = models.CharField(max_length=254, unique=True, null=True, blank=True)
    phone = models.CharField(max_length=20, blank=True, db_index=True)
    name = models.CharField(max_length=255, blank=True)
    address = MaskedTextField(blank=True)
    group = MaskedCharField(max_length=100, blank=True)
    referrer_name = models.CharField(max_length=255, blank=True)
    referrer = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="referrals"
    )
    job = job_key()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.email or self.phone or f"member #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("imports:member_list") + f"?q={self.email or self.phone}"


class SejoliAccount(models.Model):
    """A WordPress user id of a member (several when twin accounts were merged)."""

    user_id = models.BigIntegerField(unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="accounts")
    email = models.CharField(max_length=254, blank=True)
    job = job_key()

    def __str__(self) -> str:
        return f"Sejoli user {self.user_id}"

    def get_absolute_url(self) -> str:
        return self.member.get_absolute_url()


class ProductQuerySet(models.QuerySet):
    def without_commission_setting(self):
        return self.filter(commission_kind="")


class Product(models.Model):
    """A Sejoli product and the settings Sejoli keeps for it in WordPress (never exported):
    price, affiliate commission (percent of the order total or fixed Rupiah per unit) and access
    days. Products are created from the files that name them; operators load their settings
    from ``products.csv`` or edit them on the product settings page."""

    name = models.CharField(max_length=255, unique=True)
    sejoli_id = models.IntegerField(null=True, blank=True)
    price = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    # "" = not known yet: commissions on the product's orders wait for a setting (review item).
    commission_kind = models.CharField(
        max_length=8, choices=CommissionKind.choices, blank=True, default=""
    )
    # percent points (20 = 20 %) or Rupiah per unit, after commission_kind
    commission_value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    access_days = models.PositiveIntegerField(null=True, blank=True)
    job = job_key()

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("imports:product_edit", args=[self.pk])

    @property
    def has_commission_setting(self) -> bool:
        return bool(self.commission_kind) and self.commission_value is not None

    def commission_for(self, total: Decimal, quantity: int) -> Decimal | None:
        """Sejoli's commission on an order of this product; ``None`` while the setting is
        unknown (never a silent 0)."""
        if not self.has_commission_setting:
            return None
        if self.commission_kind == CommissionKind.PERCENT:
            value = total * self.commission_value / 100
        else:
            value = self.commission_value * quantity
        return value.quantize(Decimal("1"), rounding=ROUND_HALF_UP)

    @property
    def commission_label(self) -> str:
        if not self.has_commission_setting:
            return ""
        if self.commission_kind == CommissionKind.PERCENT:
            return f"{self.commission_value.normalize():f}%"
        return f"Rp {int(self.commission_value):,}".replace(",", ".") + " per unit"


class AffiliateProfile(models.Model):
    """An affiliate: a Sejoli user (or a spreadsheet code) mapped to a member."""

    sejoli_user_id = models.BigIntegerField(unique=True, null=True, blank=True)
    code = models.CharField(max_length=32, unique=True, null=True, blank=True)
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="affiliate_profiles"
    )
    name = models.CharField(max_length=255, blank=True)
    email = models.CharField(max_length=254, blank=True)
    phone = models.CharField(max_length=20, blank=True)
    bank_info = MaskedCharField(max_length=255, blank=True)
    commission_rate = models.DecimalField(max_digits=5, decimal_places=4, null=True, blank=True)
    reported_unpaid = models.DecimalField(max_digits=16, decimal_places=2, null=True, blank=True)
    job = job_key()

    def __str__(self) -> str:
        return self.name or self.code or f"affiliate {self.sejoli_user_id}"

    def get_absolute_url(self) -> str:
        return reverse("imports:review_list")


class Order(models.Model):
    """A Sejoli order (INV)."""

    inv = models.CharField(max_length=32, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="orders")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField(default=1)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    payment = MaskedCharField(max_length=100, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    access_expires_at = models.DateTimeField(null=True, blank=True)
    affiliate = models.ForeignKey(
        AffiliateProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    # the order's own delivery details (a member's address is the member's, from users.csv)
    shipping_address = MaskedTextField(blank=True)
    courier = MaskedCharField(max_length=100, blank=True)
    variant = MaskedCharField(max_length=255, blank=True)
    notes = MaskedTextField(blank=True)
    job = job_key()

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"INV {self.inv}"

    def get_absolute_url(self) -> str:
        return reverse("imports:order_list") + f"?q={self.inv}"


class Membership(models.Model):
    """A subscription (Sejoli's subscription export or the spreadsheet's memberships)."""

    ref = models.CharField(max_length=64, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="memberships")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="memberships")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=MembershipStatus.choices)
    job = job_key()

    def __str__(self) -> str:
        return f"{self.ref} {self.status}"

    def get_absolute_url(self) -> str:
        return self.member.get_absolute_url()


class Commission(models.Model):
    """An affiliate's commission on one order, computed by Sejoli's rules from the product's
    commission setting; ``amount`` is ``None`` (unknown) until the product has one."""

    order = models.OneToOneField(Order, on_delete=models.PROTECT, related_name="commission")
    affiliate = models.ForeignKey(
        AffiliateProfile, on_delete=models.PROTECT, related_name="commissions"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    reported_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=16, choices=CommissionStatus.choices)
    job = job_key()

    def __str__(self) -> str:
        return f"{self.amount} to {self.affiliate} on {self.order}"

    def get_absolute_url(self) -> str:
        return self.order.get_absolute_url()


class ReviewItemQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status=ReviewStatus.OPEN)


class ReviewItem(models.Model):
    """Something an import would not decide alone: an affiliate mapping, two members sharing a
    phone, a commission whose reported amount differs from the computed one, a product whose
    orders wait for a commission setting."""

    kind = models.CharField(max_length=32, choices=ReviewKind.choices)
    key = models.CharField(max_length=200)
    status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    summary = MaskedCharField(max_length=300)
    details = MaskedJSONField(default=dict, blank=True)
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    other_member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    affiliate = models.ForeignKey(
        AffiliateProfile, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product = models.ForeignKey(
        Product, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = MaskedTextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    job = job_key()

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="imports_review_once")]
        permissions = [("review_importitem", "Can verify or reject import review items")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.summary}"

    def get_absolute_url(self) -> str:
        return reverse("imports:review_list") + f"?kind={self.kind}"


class SampleVerification(models.Model):
    """A reproducible random sample of the members one or more completed import jobs wrote,
    checked member by member against the source rows they came from (``imports.verification``),
    and completed with a signed report: who, when, the seed, every result and a content hash."""

    jobs = models.ManyToManyField(ImportJob, related_name="verifications")
    seed = models.BigIntegerField()
    size = models.PositiveIntegerField(default=100)
    status = models.CharField(
        max_length=16, choices=VerificationStatus.choices, default=VerificationStatus.OPEN
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    correct_count = models.PositiveIntegerField(default=0)
    wrong_count = models.PositiveIntegerField(default=0)
    # why drawing the sample failed (status failed): masked, it may quote a cell of a file
    failure = MaskedTextField(blank=True)
    # the signed report, frozen at completion (imports.verification.report_body)
    report = MaskedJSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    signature = models.CharField(max_length=128, blank=True)  # base64 Ed25519, when a key is set
    key_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"Sample verification #{self.pk} (seed {self.seed})"

    def get_absolute_url(self) -> str:
        return reverse("imports:verification_detail", args=[self.pk])

    @property
    def checked_count(self) -> int:
        return self.correct_count + self.wrong_count


class SampleVerificationItem(models.Model):
    """One sampled member: its source rows and stored data as they were when sampled, and the
    operator's mark (correct or wrong, with a note; a wrong one raises a review item)."""

    verification = models.ForeignKey(
        SampleVerification, on_delete=models.CASCADE, related_name="items"
    )
    position = models.PositiveIntegerField()
    # SET_NULL: rolling a job back may delete the member; the label and snapshot stay
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    member_label = MaskedCharField(max_length=254, blank=True)
    sources = MaskedJSONField(default=list, blank=True)
    stored = MaskedJSONField(default=dict, blank=True)
    mark = models.CharField(max_length=16, choices=SampleMark.choices, default=SampleMark.PENDING)
    note = MaskedTextField(blank=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    marked_at = models.DateTimeField(null=True, blank=True)
    review_item = models.ForeignKey(
        ReviewItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["verification", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["verification", "position"], name="imports_sample_item_position"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.position} {self.member_label} ({self.get_mark_display()})"

    def get_absolute_url(self) -> str:
        return reverse("imports:verification_item", args=[self.verification_id, self.position])
