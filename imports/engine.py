"""The job engine: one batch of rows through its layout, and the review queues after the last
batch.

Rows are read through the layout's django-import-export resource (``layouts/``) and written in
bulk by the layout's handler through ``writer.Writer``; ``finalise`` then maps affiliates,
flags shared phones, products without a commission setting and commission mismatches.
"""

from collections import Counter
from decimal import Decimal

from django.db.models import Count, Q, Sum

from opsportal.templatetags.portal_format import rupiah

from . import commissions
from .choices import CommissionStatus, MembershipStatus, ReviewKind, ReviewStatus
from .layouts import REGISTRY, Batch
from .layouts.commission_balances import MemberFinder
from .models import (
    AffiliateProfile,
    Commission,
    Member,
    Membership,
    Order,
    Product,
    ReviewItem,
    SejoliAccount,
)
from .writer import Writer, bulk_work  # noqa: F401  (services)
from .writer import refresh_statistics as _refresh_statistics

HANDLERS = REGISTRY  # the kinds a job can apply


def refresh_statistics(job, number: int, dry_run: bool = False) -> None:
    """Fresh planner statistics for the tables this job's layout fills (a preview fills none,
    or only the ones its layout writes and rolls back)."""
    layout = REGISTRY[job.kind]
    if dry_run and not layout.preview_writes:
        return
    written = [
        model
        for model in layout.writes
        if not (dry_run and model._meta.label_lower in Writer.DRY_LEAVES)
    ]
    _refresh_statistics(number, written)


def apply_batch(
    job, rows: list, sample_limit: int = 0, dry_run: bool = False, state: dict | None = None
):
    """Apply one batch of ``(row_number, raw)``; must run inside the caller's transaction.

    ``dry_run``: the preview, inside a transaction the caller rolls back. It writes nothing,
    or, for layouts whose rows look each other up in the database (``preview_writes``), no
    leaf rows and no change log; ``state`` carries what its earlier batches created."""
    layout = REGISTRY.get(job.kind)
    if layout is None:
        raise NotImplementedError(f"{job.kind} files cannot be applied yet")
    b = Batch(job, sample_limit, dry_run, state, writes=layout.preview_writes)
    good = []
    for row, raw in rows:
        if "__error__" in raw:
            b.reject(row, "", raw["__error__"])
        else:
            good.append((row, raw))
    layout.handle(b, good)
    if not dry_run:
        b.w.flush()
    return b.r


# --- after the last batch: review queues and checks ---------------------------------------------
class _Queue:
    """Review items to create, once per (kind, key) across every import."""

    def __init__(self, w: Writer):
        self.w = w
        self.items: list[ReviewItem] = []
        self.known = set(ReviewItem.objects.values_list("kind", "key"))

    def add(self, kind, key, summary, **kwargs) -> None:
        if (kind, key) not in self.known:
            self.known.add((kind, key))
            self.items.append(ReviewItem(kind=kind, key=key, summary=summary[:300], **kwargs))


def finalise(job) -> tuple[dict, list[str]]:
    """Map affiliates, flag members sharing a phone, products without a commission setting and
    commission mismatches (idempotent). Returns the new review items by kind and the notes of
    checks that could not be made."""
    w = Writer(job)
    queue = _Queue(w)
    _map_affiliates(job, w, queue)
    _flag_shared_phones(queue)
    _flag_missing_settings(w, queue)
    notes = _check_reported_balances(queue)
    _check_reported_amounts(queue)
    w.create(ReviewItem, queue.items)
    w.flush()
    return dict(Counter(i.kind for i in queue.items)), notes


def _map_affiliates(job, w: Writer, queue: _Queue) -> None:
    """Affiliates without a member: by Sejoli user id, then email, then a unique phone."""
    unmapped = list(AffiliateProfile.objects.filter(member__isnull=True))
    finder = MemberFinder(
        uids={a.sejoli_user_id for a in unmapped if a.sejoli_user_id},
        emails={a.email for a in unmapped},
        phones={a.phone for a in unmapped},
    )
    for aff in unmapped:
        member_id, how = finder.find(aff.sejoli_user_id, aff.email, aff.phone)
        if member_id:
            w.will_update(aff)
            aff.member_id = member_id
            aff.save(update_fields=["member", "job"])
            # a mapping queued by an earlier file is settled by this one's email or phone
            for item in ReviewItem.objects.open().filter(
                kind=ReviewKind.AFFILIATE_MAPPING, affiliate=aff
            ):
                w.will_update(item)
                item.status = ReviewStatus.VERIFIED
                item.note = f"mapped automatically by {how} in import #{job.pk}"
                item.member_id = member_id
                item.save(update_fields=["status", "note", "member", "job"])
        else:
            queue.add(
                ReviewKind.AFFILIATE_MAPPING,
                f"affiliate:{aff.pk}",
                f"{aff} (Sejoli user {aff.sejoli_user_id}) matches no member: {how}",
                affiliate=aff,
                details={"how": how},
            )


def _flag_shared_phones(queue: _Queue) -> None:
    shared = (
        Member.objects.exclude(phone="").values("phone").annotate(n=Count("pk")).filter(n__gt=1)
    )
    groups: dict[str, list[Member]] = {}
    for m in Member.objects.filter(phone__in=shared.values("phone")).order_by("pk"):
        groups.setdefault(m.phone, []).append(m)
    for phone, people in groups.items():
        for i, a in enumerate(people):
            for other in people[i + 1 :]:
                queue.add(
                    ReviewKind.DUPLICATE_MEMBER,
                    f"{a.pk}:{other.pk}",
                    f"{a} and {other} share {phone}",
                    member=a,
                    other_member=other,
                    details={"phone": phone},
                )


def _flag_missing_settings(w: Writer, queue: _Queue) -> None:
    """One review item per product whose commissions wait for its setting, kept up to date."""
    waiting = commissions.waiting_for_setting()
    if not waiting:
        return
    products = Product.objects.in_bulk(list(waiting))
    open_items = {
        i.product_id: i
        for i in ReviewItem.objects.open().filter(
            kind=ReviewKind.COMMISSION_SETTING, product__in=list(waiting)
        )
    }
    for product_id, count in waiting.items():
        product = products[product_id]
        summary = commissions.setting_summary(product, count)
        item = open_items.get(product_id)
        if item is not None:
            if item.summary != summary:
                w.will_update(item)
                item.summary, item.details = summary, {"orders": count}
                item.save(update_fields=["summary", "details", "job"])
            continue
        queue.add(
            ReviewKind.COMMISSION_SETTING,
            commissions.setting_review_key(product_id),
            summary,
            product=product,
            details={"orders": count},
        )


def _check_reported_balances(queue: _Queue) -> list[str]:
    """A reported unpaid balance is at most what completed orders earned; an affiliate whose
    earned commissions include unknown amounts cannot be checked (no false mismatch)."""
    added = Commission.objects.filter(status=CommissionStatus.ADDED)
    earned = dict(
        added.values("affiliate").annotate(total=Sum("amount")).values_list("affiliate", "total")
    )
    unknown: dict[int, set[str]] = {}
    for affiliate_id, product in added.filter(amount__isnull=True).values_list(
        "affiliate", "order__product__name"
    ):
        unknown.setdefault(affiliate_id, set()).add(product)
    unverifiable: set[str] = set()
    count = 0
    for aff in AffiliateProfile.objects.filter(reported_unpaid__isnull=False):
        if aff.pk in unknown:
            unverifiable |= unknown[aff.pk]
            count += 1
            continue
        computed = earned.get(aff.pk) or Decimal("0")
        if aff.reported_unpaid > computed:
            queue.add(
                ReviewKind.COMMISSION_MISMATCH,
                f"affiliate:{aff.pk}:unpaid",
                f"{aff} reports {rupiah(aff.reported_unpaid)} unpaid, "
                f"orders earned {rupiah(computed)}",
                affiliate=aff,
                details={"reported": str(aff.reported_unpaid), "computed": str(computed)},
            )
    if not count:
        return []
    names = ", ".join(f"«{name}»" for name in sorted(unverifiable))
    return [f"{count} reported commission balances cannot be verified: rates unknown for {names}."]


def _check_reported_amounts(queue: _Queue) -> None:
    """A spreadsheet's reported commission against amount × rate."""
    reported = Commission.objects.filter(reported_amount__isnull=False).exclude(
        Q(amount__isnull=True)
    )
    for comm in reported.select_related("order"):
        if comm.reported_amount != comm.amount:
            queue.add(
                ReviewKind.COMMISSION_MISMATCH,
                f"order:{comm.order.inv}",
                f"INV {comm.order.inv}: reported {rupiah(comm.reported_amount)}, "
                f"computed {rupiah(comm.amount)}",
                order=comm.order,
                affiliate_id=comm.affiliate_id,
                details={"reported": str(comm.reported_amount), "computed": str(comm.amount)},
            )


def _money(value) -> str:
    value = Decimal(value or 0)
    return str(value.quantize(Decimal(1)) if value == value.to_integral_value() else value)


def totals() -> dict:
    """What the member tables hold now (the CLI's ``--json`` totals)."""
    by_status = dict(
        Order.objects.values("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return {
        "members": Member.objects.count(),
        "orders": Order.objects.count(),
        "orders_by_status": {code: by_status.get(code, 0) for code in ORDER_STATUSES},
        "affiliates": AffiliateProfile.objects.count(),
        "commissions": Commission.objects.count(),
        "subscriptions": Membership.objects.count(),
        "possible_duplicates": ReviewItem.objects.filter(kind=ReviewKind.DUPLICATE_MEMBER).count(),
        "commission_mismatches": ReviewItem.objects.filter(
            kind=ReviewKind.COMMISSION_MISMATCH
        ).count(),
        "commission_settings_needed": ReviewItem.objects.open()
        .filter(kind=ReviewKind.COMMISSION_SETTING)
        .count(),
        "commissions_unknown": Commission.objects.filter(amount__isnull=True).count(),
        "affiliate_reviews": ReviewItem.objects.filter(kind=ReviewKind.AFFILIATE_MAPPING).count(),
        "unmapped_affiliates": AffiliateProfile.objects.filter(member__isnull=True).count(),
        "members_without_email": Member.objects.filter(email__isnull=True).count(),
        "active_subscriptions": Membership.objects.filter(status=MembershipStatus.ACTIVE).count(),
        "sejoli_accounts": SejoliAccount.objects.count(),
        "orders_with_affiliate": Order.objects.filter(affiliate__isnull=False).count(),
        "completed_total": _money(
            Order.objects.filter(status="completed").aggregate(s=Sum("total"))["s"]
        ),
        "reported_unpaid_total": _money(
            AffiliateProfile.objects.aggregate(s=Sum("reported_unpaid"))["s"]
        ),
    }


ORDER_STATUSES = [
    "on-hold",
    "payment-confirm",
    "in-progress",
    "shipping",
    "completed",
    "refunded",
    "cancelled",
]
