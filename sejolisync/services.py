"""Every write of the Sejoli order sync: hooks, deliveries, refusals, and processing.

Processing reuses the importer: a delivery becomes one row of Sejoli's orders export
(``imports.layouts.orders.OrdersResource``: the same widgets, normalisers, buyer and affiliate
matching, order and commission writes) and goes through that layout's batch handler with a
``Batch`` whose writer keeps no import change log (``SyncWriter``): rows the sync creates or
changes carry no import job, so rolling back an earlier import reports them as changed since
instead of undoing a shop's later news.

RULE (idempotent and out of order): each order's sync state is ``(status rank, paid at)``
(``choices.STATUS_RANK``: on-hold < payment-confirm < in-progress < shipping < completed <
cancelled < refunded; a delivery without a payment time takes the order's known one, none known
counts as the earliest). A delivery is applied only when its ``(rank, paid at)`` is greater than
the stored one: equal is a duplicate, smaller is stale, and neither changes anything. An order
that only an import wrote starts from its imported status. So a delivery posted twice, or an
older status arriving after a newer one, leaves the tables as the in-order sequence left them.
A status Sejoli moves backwards by hand (completed → on-hold) is not followed: replaying it
cannot win either; the order is corrected by a new import.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from types import SimpleNamespace

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone
from django_q.tasks import async_task

from imports import normalise as n
from imports.layouts import Batch
from imports.layouts.orders import OrdersResource
from imports.layouts.widgets import DateWidget, RupiahWidget
from imports.models import AffiliateProfile, Commission, Member, Order, Product
from imports.writer import Writer, apply_changes, update_rows
from notifications import crypto
from opsportal.accounts.permissions import require
from opsportal.audit.masking import fingerprint
from opsportal.audit.services import record
from opsportal.security import ascii_int

from . import payload
from .choices import REPLAYABLE, STATUS_RANK, DeliveryState
from .models import Delivery, RefusedDelivery, ShopHook, SyncedOrder

logger = logging.getLogger(__name__)

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
TASK = "sejolisync.tasks.process_delivery"


# --- hooks ---------------------------------------------------------------------------------------
@dataclass
class NewHook:
    hook: ShopHook
    token: str
    signing_secret: str  # "" when unsigned; shown once, never stored in clear

    @property
    def url(self) -> str:
        return f"/hooks/sejoli/{self.token}/"


def hook_create(*, actor, name: str, signed: bool = False) -> NewHook:
    """A shop's endpoint; its token (and signing secret) are returned once and kept only hashed
    (encrypted). ``actor=None`` is the command line (``sejoli_hook create``)."""
    if actor is not None:
        require(actor, "sejolisync.add_shophook", action="create a Sejoli hook")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationError({"name": "A shop name of 1 to 100 characters."})
    if ShopHook.objects.filter(name=name).exists():
        raise ValidationError({"name": f"A hook named {name!r} exists already."})
    token = payload.new_token()
    secret = payload.new_token() if signed else ""
    with transaction.atomic():
        hook = ShopHook(
            name=name,
            token_hash=payload.token_hash(token),
            token_hint=token[-4:],
            created_by=actor,
        )
        if secret:
            hook.signing_secret_encrypted = crypto.encrypt(secret)
            hook.signing_fingerprint = fingerprint(secret)
        hook.save()
        record(
            actor=actor,
            action="sejolisync.hook.created",
            target=hook,
            changes={"name": name, "signed": bool(secret), "token": "***" + token[-4:]},
        )
    return NewHook(hook, token, secret)


def hook_switch(
    *, actor, hook: ShopHook, enabled=None, processing=None, reason: str = ""
) -> ShopHook:
    """Turn a hook's switches: ``enabled`` (accepts posts) and ``processing`` (applies them;
    off once Sejoli is decommissioned: deliveries are still logged, marked skipped)."""
    if actor is not None:
        require(actor, "sejolisync.change_shophook", action="switch a Sejoli hook")
    with transaction.atomic():
        hook = ShopHook.objects.select_for_update().get(pk=hook.pk)
        changes = {}
        for name, value in (("enabled", enabled), ("processing", processing)):
            if value is not None and getattr(hook, name) != bool(value):
                changes[name] = {"before": getattr(hook, name), "after": bool(value)}
                setattr(hook, name, bool(value))
        if not changes:
            return hook
        hook.save(update_fields=list(changes))
        action = "sejolisync.hook.updated"
        if changes.get("enabled", {}).get("after") is False:
            action = "sejolisync.hook.disabled"
        record(actor=actor, action=action, target=hook, changes=changes, message=reason)
    return hook


def hook_for_token(token: str) -> ShopHook | None:
    """The enabled hook of this token (looked up by its hash, compared in constant time)."""
    if not token or len(token) > 200:
        return None
    digest = payload.token_hash(token)
    hook = ShopHook.objects.filter(token_hash=digest, enabled=True).first()
    if hook is None or not payload.token_matches(token, hook.token_hash):
        return None
    return hook


def hook_signing_secret(hook: ShopHook) -> str:
    return crypto.decrypt(hook.signing_secret_encrypted) if hook.signing_secret_encrypted else ""


# --- refusals ------------------------------------------------------------------------------------
def delivery_refuse(*, hook: ShopHook | None, reason: str, ip: str | None) -> RefusedDelivery:
    """Count a refused post in its minute's bucket; the bucket's first post is audited (a flood
    of bad posts costs one row and one audit event per minute, address and reason)."""
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    bucket = f"{hook.pk if hook else 0}|{minute:%Y%m%d%H%M}|{reason}|{ip or '-'}"[:120]
    with transaction.atomic():
        if RefusedDelivery.objects.filter(bucket=bucket).update(count=F("count") + 1, last_at=now):
            return RefusedDelivery.objects.get(bucket=bucket)
        try:
            with transaction.atomic():
                row = RefusedDelivery.objects.create(
                    hook=hook, bucket=bucket, minute=minute, reason=reason, ip=ip, last_at=now
                )
        except IntegrityError:  # another post of the same minute won the race
            RefusedDelivery.objects.filter(bucket=bucket).update(count=F("count") + 1, last_at=now)
            return RefusedDelivery.objects.get(bucket=bucket)
        record(
            actor=None,
            action="sejolisync.delivery.refused",
            target=hook or row,
            changes={"reason": reason, "ip": ip or ""},
        )
    logger.warning("Sejoli hook post refused: %s from %s", reason, ip)
    return row


# --- receiving -----------------------------------------------------------------------------------
def delivery_receive(*, hook: ShopHook, fields: dict, raw: str, content_type: str) -> Delivery:
    """Log an accepted post (the ``Delivery`` row is the raw log) and queue its processing, or
    mark it skipped while processing is switched off. What the shop said is not yet an action of
    the portal: processing is, and it is audited (``delivery_process``)."""
    order_ref = payload.order_ref(fields)
    try:
        status = payload.status(fields.get("order_status"))
    except n.Invalid:
        status = ""
    skipped = not hook.processing
    with transaction.atomic():
        delivery = Delivery.objects.create(
            hook=hook,
            content_type=content_type[:100],
            raw=raw,
            fields=fields,
            order_ref=order_ref,
            status=status,
            state=DeliveryState.SKIPPED if skipped else DeliveryState.QUEUED,
            outcome=SWITCHED_OFF if skipped else "",
        )
        if not skipped and not _unclaimed(hook.pk, before=delivery.pk):
            _enqueue(delivery.pk)
    return delivery


def _unclaimed(hook_id: int, before: int | None = None) -> int | None:
    """The oldest queued delivery of the shop no worker holds (``SKIP LOCKED``), if any.

    One task drains every queued delivery of its shop, so a post needs a task of its own only
    when no older delivery waits unclaimed (that one's task takes this one along); one a worker
    holds may be past its batch's read, so it does not count. A post committed while a batch
    reads is caught by the batch's follow-up (``delivery_process``) or, at worst, the minute's
    sweep (``deliveries_sweep``)."""
    waiting = Delivery.objects.filter(hook_id=hook_id, state=DeliveryState.QUEUED)
    if before is not None:
        waiting = waiting.filter(pk__lt=before)
    return (
        waiting.select_for_update(skip_locked=True)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


SWITCHED_OFF = "processing is switched off for this shop"


def _enqueue(delivery_id: int) -> None:
    transaction.on_commit(lambda: async_task(TASK, delivery_id, task_name=f"sejoli-{delivery_id}"))


def delivery_replay(*, actor, delivery: Delivery, reason: str = "") -> Delivery:
    """Queue a failed, invalid or skipped delivery again (processing decides anew)."""
    require(actor, "sejolisync.replay_delivery", action="replay a Sejoli delivery")
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("hook").get(pk=delivery.pk)
        if delivery.state not in REPLAYABLE:
            state = delivery.get_state_display().lower()
            raise ValidationError(f"A {state} delivery is not replayed.")
        if not delivery.hook.processing:
            raise ValidationError("Processing is switched off for this shop: switch it on first.")
        before = delivery.state
        delivery.state, delivery.error, delivery.outcome = DeliveryState.QUEUED, "", ""
        delivery.save(update_fields=["state", "error", "outcome"])
        record(
            actor=actor,
            action="sejolisync.delivery.replayed",
            target=delivery,
            changes={"state": {"before": before, "after": DeliveryState.QUEUED}},
            message=reason,
        )
        _enqueue(delivery.pk)
    return delivery


def delivery_replay_failures(*, actor, hook: ShopHook, reason: str = "") -> int:
    """Replay every failed delivery of a hook, oldest first; how many were queued."""
    require(actor, "sejolisync.replay_delivery", action="replay Sejoli deliveries")
    failed = hook.deliveries.filter(state=DeliveryState.FAILED).order_by("pk")
    ids = list(failed.values_list("pk", flat=True))
    for pk in ids:
        delivery_replay(actor=actor, delivery=Delivery(pk=pk), reason=reason)
    return len(ids)


# --- processing ----------------------------------------------------------------------------------
class SyncWriter(Writer):
    """The importer's bulk writer without an import job: rows carry no job, no change log."""

    def flush(self) -> None:
        self.before.clear()
        self.created.clear()
        self.touched.clear()
        self.created_rows.clear()


NO_JOB = SimpleNamespace(pk=None)


def _decimal(value: str) -> Decimal | None:
    raw = (value or "").strip().rstrip("%").replace(",", ".")
    if not raw:
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:
        raise n.Invalid("bad_rate") from None


def read_order(fields: dict) -> dict:
    """The delivery's values, normalised by the importer's normalisers; ``n.Invalid`` names
    what is wrong."""
    inv = payload.order_ref(fields)
    if not inv:
        raise n.Invalid("missing_order_id")
    if not (fields.get("order_status") or "").strip():
        raise n.Invalid("missing_status")
    status = payload.status(fields.get("order_status"))
    phone = n.phone(fields.get("buyer_phone")) or n.phone(fields.get("buyer_whatsapp"))
    return {
        "inv": inv,
        "status": status,
        "product_id": ascii_int((fields.get("product_id") or "").strip()),
        "product": n.text(fields.get("product_name")),
        "name": n.text(fields.get("buyer_name")),
        "email": n.email(fields.get("buyer_email")),
        "phone": phone,
        "amount": n.money(fields.get("amount")),
        "paid_amount": n.money(fields.get("paid_amount")),
        "paid_at": n.date(fields.get("paid_at")),
        "created_at": n.date(fields.get("created_at")),
        "aff_id": ascii_int((fields.get("affiliate_code") or "").strip()) or 0,
        "aff_name": n.text(fields.get("affiliate_name")),
        "aff_email": _soft_email(fields.get("affiliate_email")),
        "aff_phone": n.phone(fields.get("affiliate_phone")),
        "aff_rate": _decimal(fields.get("affiliate_rate")),
        "aff_amount": n.money(fields.get("affiliate_amount")),
    }


def _soft_email(value) -> str:
    try:
        return n.email(value)
    except n.Invalid:
        return ""


_date, _money = DateWidget().render, RupiahWidget().render


def export_row(order: dict, existing: Order | None) -> dict:
    """The delivery as a row of Sejoli's orders export; what the delivery does not carry is
    taken from the stored order (a webhook names no address, courier or quantity)."""
    member = existing.member if existing else None
    affiliate = existing.affiliate if existing else None
    product = order["product"]
    if not product and order["product_id"]:
        product = (
            Product.objects.filter(sejoli_id=order["product_id"])
            .values_list("name", flat=True)
            .first()
            or ""
        )
    if not product and existing:
        product = existing.product.name
    created = order["created_at"] or (existing.created_at if existing else None) or order["paid_at"]
    return {
        "INV": order["inv"],
        "product": product,
        "created_at": _date(created),
        "name": order["name"] or (member.name if member else ""),
        "email": order["email"] or (member.email or "" if member else ""),
        "phone": order["phone"] or (member.phone if member else ""),
        "quantity": str(existing.quantity) if existing else "",
        "price": _money(
            order["amount"]
            if order["amount"] is not None
            else (existing.total if existing else None)
        ),
        "status": order["status"],
        "affiliate": str(order["aff_id"] or (affiliate.sejoli_user_id or "" if affiliate else "")),
        "affiliate_id": order["aff_name"] or (affiliate.name if affiliate else ""),
        "address": existing.shipping_address if existing else "",
        "payment": existing.payment if existing else "",
        "courier": existing.courier if existing else "",
        "variant": existing.variant if existing else "",
        "notes": existing.notes if existing else "",
    }


def _lock(keys) -> None:
    """Serialise the batches that touch the same orders, buyers, affiliates or new products
    (PostgreSQL; SQLite writes one at a time anyway). One statement takes the keys in sorted
    order, so two batches never wait on each other."""
    keys = sorted({k for k in keys if k})
    if connection.vendor != "postgresql" or not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(hashtext(k))) "
            "FROM (SELECT unnest(%s::text[]) AS k ORDER BY 1) AS keys",
            [keys],
        )


def _merge(before: dict | None, order: dict) -> dict:
    """An order's values after one more delivery: what it carries, over what came before (a
    later delivery that leaves a field empty does not blank it, as the stored order would not)."""
    if before is None:
        return dict(order)
    merged = dict(before)
    merged.update({k: v for k, v in order.items() if v not in ("", None, 0)})
    merged["status"] = order["status"]
    return merged


@dataclass
class _Decision:
    state: str
    outcome: str = ""
    error: str = ""


def _apply_orders(groups: dict[str, list]) -> tuple[dict, dict]:
    """Apply each order's winning deliveries (``RULE``) in one pass of the orders layout.

    ``groups``: order id → ``[(delivery, read values), ...]`` in arrival order. Returns the
    decision per delivery and ``{order id: {"before", "after"}}`` of the orders written. Raises
    on a database error (the caller's savepoint undoes everything)."""
    invs = list(groups)
    reads = [order for group in groups.values() for _, order in group]
    _lock(
        [f"sejoli:order:{inv}" for inv in invs]
        + [f"sejoli:member:{o['email'] or o['phone']}" for o in reads]
        + [f"sejoli:aff:{o['aff_id']}" for o in reads if o["aff_id"]]
        + [f"sejoli:product:{o['product']}" for o in reads if o["product"]]
    )
    synced = {s.inv: s for s in SyncedOrder.objects.filter(inv__in=invs)}
    existing = {
        o.inv: o
        for o in Order.objects.select_related("member", "affiliate", "product").filter(inv__in=invs)
    }
    decisions: dict[int, _Decision] = {}
    winners: dict[str, tuple] = {}  # inv -> (merged values, paid at, deliveries applied)
    for inv, group in groups.items():
        s, o = synced.get(inv), existing.get(inv)
        status = s.status if s else o.status if o else None
        paid = s.paid_at if s else None
        stored = (
            (s.rank, paid or EARLIEST)
            if s
            else (STATUS_RANK[o.status], EARLIEST)
            if o
            else (0, EARLIEST)
        )
        merged, applied = None, []
        for d, order in group:
            mine = (STATUS_RANK[order["status"]], order["paid_at"] or paid or EARLIEST)
            if mine == stored:
                decisions[d.pk] = _Decision(
                    DeliveryState.DUPLICATE, f"INV {inv} is {status} already"
                )
            elif mine < stored:
                decisions[d.pk] = _Decision(
                    DeliveryState.STALE,
                    f"INV {inv} is {status} already: {order['status']} is older",
                )
            else:
                merged = _merge(merged, order)
                paid = order["paid_at"] or paid
                stored, status = mine, order["status"]
                applied.append(d)
        if applied:
            winners[inv] = (merged, paid, applied)
    changed: dict[str, dict] = {}
    if not winners:
        return decisions, changed
    rows = [(i, export_row(winners[inv][0], existing.get(inv))) for i, inv in enumerate(winners, 1)]
    b = Batch(NO_JOB, sample_limit=len(rows))
    b.w = SyncWriter(NO_JOB)
    OrdersResource.handle(b, rows)
    rejected = {key: reason for _, key, reason in b.r.rejected}
    outcomes = {sample["key"]: sample["outcome"] for sample in b.r.samples}
    written = {
        o.inv: o for o in Order.objects.select_related("affiliate").filter(inv__in=list(winners))
    }
    new_synced, old_synced = [], []
    for inv, (merged, paid, applied) in winners.items():
        if inv in rejected or inv not in written:
            reason = rejected.get(inv, "not written")
            for d in applied:
                decisions[d.pk] = _Decision(DeliveryState.INVALID, f"invalid: {reason}", reason)
            continue
        order = written[inv]
        _affiliate_details(b.w, order, merged)
        outcome = outcomes.get(inv, "unchanged")
        for d in applied:
            decisions[d.pk] = _Decision(
                DeliveryState.PROCESSED, f"INV {inv} {outcome} ({order.status})"
            )
        before = existing[inv].status if inv in existing else None
        changed[inv] = {"before": before, "after": order.status, "outcome": outcome}
        rank = STATUS_RANK[merged["status"]]
        s = synced.get(inv)
        if s is None:
            new_synced.append(
                SyncedOrder(
                    inv=inv, status=merged["status"], rank=rank, paid_at=paid, delivery=applied[-1]
                )
            )
        else:
            s.status, s.rank, s.paid_at, s.delivery = merged["status"], rank, paid, applied[-1]
            s.updated_at = timezone.now()
            old_synced.append(s)
    SyncedOrder.objects.bulk_create(new_synced)
    update_rows(SyncedOrder, old_synced, ["status", "rank", "paid_at", "delivery", "updated_at"])
    return decisions, changed


def _affiliate_details(w: Writer, order: Order, values: dict) -> None:
    """What a delivery tells of the affiliate beyond the export's columns: an e-mail address or
    phone the profile lacks, and the commission Sejoli reported (checked against the product's
    setting by the importer's mismatch review)."""
    affiliate = order.affiliate
    if affiliate is None:
        return
    want = {}
    if affiliate.member_id is None and values["aff_email"]:
        # the importer maps affiliates to members by e-mail after a job; a delivery names it
        member_id = (
            Member.objects.filter(email=values["aff_email"]).values_list("pk", flat=True).first()
        )
        if member_id is not None:
            want["member_id"] = member_id
    if values["aff_email"] and not affiliate.email:
        want["email"] = values["aff_email"]
    if values["aff_phone"] and not affiliate.phone:
        want["phone"] = values["aff_phone"]
    if values["aff_rate"] is not None and affiliate.commission_rate is None:
        rate = values["aff_rate"]
        want["commission_rate"] = (rate / 100 if rate > 1 else rate).quantize(Decimal("0.0001"))
    diff = apply_changes(affiliate, want, w)
    if diff:
        w.update(AffiliateProfile, [affiliate], diff)
    if values["aff_amount"] is not None:
        commission = Commission.objects.filter(order=order).first()
        if commission is not None:
            diff = apply_changes(commission, {"reported_amount": values["aff_amount"]}, w)
            if diff:
                w.update(Commission, [commission], diff)


BATCH = 50


def delivery_process(*, delivery_id: int, limit: int = BATCH) -> int:
    """Process the queued deliveries of this delivery's shop, oldest first, up to ``limit`` (the
    task's service): one transaction, one pass of the orders layout, one audit event naming
    every delivery and order. A task whose delivery an earlier batch took finds nothing to do (a
    redelivered task too). Deliveries another worker holds are skipped (``SKIP LOCKED``). A
    database error undoes the batch and the orders are tried one at a time, so only the failing
    order's deliveries are marked failed (replayable). How many deliveries were decided."""
    hook_id = (
        Delivery.objects.filter(pk=delivery_id, state=DeliveryState.QUEUED)
        .values_list("hook_id", flat=True)
        .first()
    )
    if hook_id is None:
        return 0
    with transaction.atomic():
        hook = ShopHook.objects.get(pk=hook_id)
        batch = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(hook_id=hook_id, state=DeliveryState.QUEUED)
            .order_by("pk")[:limit]
        )
        if not batch:
            return 0
        decisions, changed = _decide(hook, batch)
        now = timezone.now()
        summary: dict[str, list] = {}
        for d in batch:
            decision = decisions[d.pk]
            d.state, d.outcome, d.error = decision.state, decision.outcome[:200], decision.error
            d.attempts += 1
            d.processed_at = now
            summary.setdefault(d.state, []).append(d.pk)
        # the importer's bulk UPDATE (one statement; Django's bulk_update spent 0.8 s of a
        # 50-delivery batch building its CASE expressions, measured)
        update_rows(
            Delivery, batch, ["state", "outcome", "error", "attempts", "processed_at", "paid_at"]
        )
        ShopHook.objects.filter(pk=hook.pk).update(last_delivery_at=batch[-1].received_at)
        record(
            actor=None,
            action="sejolisync.deliveries.processed",
            target=hook,
            changes={"deliveries": summary, "orders": changed},
        )
    with transaction.atomic():  # queued meanwhile and not held by another worker: next task
        follow = _unclaimed(hook_id)
        if follow is not None:
            _enqueue(follow)
    return len(batch)


def deliveries_sweep(*, older_than: int = 60) -> int:
    """Queue a task for each shop whose oldest unclaimed delivery has waited ``older_than``
    seconds (the minute's schedule: a task lost with a Redis broker, a post that slipped between
    a batch's read and its follow-up). Only enqueues: the processing audits. How many tasks."""
    cutoff = timezone.now() - timedelta(seconds=older_than)
    hooks = (
        Delivery.objects.filter(state=DeliveryState.QUEUED, received_at__lt=cutoff)
        .values_list("hook_id", flat=True)
        .distinct()
    )
    queued = 0
    for hook_id in list(hooks):
        with transaction.atomic():
            oldest = _unclaimed(hook_id)
            if oldest is not None:
                _enqueue(oldest)
                queued += 1
    return queued


def _decide(hook: ShopHook, batch: list[Delivery]) -> tuple[dict, dict]:
    if not hook.processing:
        return {d.pk: _Decision(DeliveryState.SKIPPED, SWITCHED_OFF) for d in batch}, {}
    decisions: dict[int, _Decision] = {}
    groups: dict[str, list] = {}
    for d in batch:
        try:
            order = read_order(d.fields)
        except n.Invalid as exc:
            decisions[d.pk] = _Decision(DeliveryState.INVALID, f"invalid: {exc}", str(exc))
            continue
        d.paid_at = order["paid_at"]
        groups.setdefault(order["inv"], []).append((d, order))
    if not groups:
        return decisions, {}
    try:
        with transaction.atomic():  # a savepoint: a failure undoes the batch's writes
            found, changed = _apply_orders(groups)
        return {**decisions, **found}, changed
    except Exception:  # each order again on its own, below
        logger.warning("Sejoli batch of %s failed: each order on its own", len(batch))
    changed = {}
    for inv, group in groups.items():
        try:
            with transaction.atomic():
                found, one = _apply_orders({inv: group})
        except Exception as exc:  # recorded and replayable, never lost
            logger.exception("Sejoli deliveries of INV %s failed", inv)
            error = f"{type(exc).__name__}: {exc}"[:2000]
            for d, _ in group:
                decisions[d.pk] = _Decision(DeliveryState.FAILED, "failed", error)
            continue
        decisions.update(found)
        changed.update(one)
    return decisions, changed


def sync_status() -> dict:
    """Counts the dashboard and the pages show: hooks processing, queued and failed deliveries."""
    agg = Delivery.objects.aggregate(
        queued=Count("pk", filter=Q(state=DeliveryState.QUEUED)),
        failed=Count("pk", filter=Q(state__in=[DeliveryState.FAILED, DeliveryState.INVALID])),
        last=Max("received_at"),
    )
    hooks = ShopHook.objects.aggregate(
        total=Count("pk"),
        processing=Count("pk", filter=Q(enabled=True, processing=True)),
    )
    day_ago = timezone.now() - timedelta(days=1)
    refused = RefusedDelivery.objects.filter(minute__gte=day_ago).aggregate(n=Sum("count"))["n"]
    return {**agg, **hooks, "refused": refused or 0}
