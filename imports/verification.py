"""Sample verification: which members a set of import jobs wrote, a reproducible sample of them,
each member's source rows (file, row number, raw cells) and what was stored for it, and the
signed report of a completed verification.

Sampling. A member belongs to a job when the job's change log (``ImportRowChange``) holds the
member row, one of its Sejoli accounts, orders, memberships or affiliate profiles, or a
commission on one of its orders. Each member is ranked by ``sha256(seed:member id)`` and the
sample is the ``size`` lowest ranks: the same seed gives the same members whatever the order
the database returns them in, a larger sample extends a smaller one, and a different seed draws
another sample. Ranking streams the ids through a bounded heap (``heapq.nsmallest``).

Sources. The change log records which rows a job wrote, not which file rows they came from, and
the importer keeps no raw row (only rejected ones). So the stored file of every completed job
that wrote one of the sampled members' rows is read again, streamed row by row exactly as the
job read it (same layout, mapping and row numbers: 1 = the first data row, as in rejected-row
reports), and a row is kept when its key names one of the sampled members' records: a users
row by Sejoli user id or email, an orders or subscriptions row by INV, a commissions row by
the affiliate's user id, a spreadsheet row by order id, membership id or affiliate code. Only
the matching rows are kept: memory is the file the job itself read plus the sample's rows. A
file purged by retention is reported as such.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import heapq
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Q

from opsportal.exports import single_line
from opsportal.fields import mask_json

from .choices import JobKind, JobStatus
from .formats import parse_bytes
from .models import (
    AffiliateProfile,
    Commission,
    ImportJob,
    ImportRowChange,
    Member,
    Membership,
    Order,
    SejoliAccount,
)

DEFAULT_SIZE = 100
MAX_SIZE = 1000
# what one member's stored view lists at most per kind (an affiliate may have earned thousands)
STORED_LIMIT = 200
# source rows kept per member and file at most
SOURCE_LIMIT = 200

# change-log models whose rows name a member, and how to get the member id from them
_MEMBER_OF = {
    "imports.member": (Member, "pk"),
    "imports.sejoliaccount": (SejoliAccount, "member_id"),
    "imports.order": (Order, "member_id"),
    "imports.membership": (Membership, "member_id"),
    "imports.affiliateprofile": (AffiliateProfile, "member_id"),
    "imports.commission": (Commission, "order__member_id"),
}


def _ids_of(model, column: str, label: str, jobs: list[int]):
    changed = ImportRowChange.objects.filter(job_id__in=jobs, model=label).values("object_pk")
    return (
        model.objects.filter(pk__in=changed)
        .exclude(**{f"{column}__isnull": True})
        .values_list(column, flat=True)
        .distinct()
        .iterator(chunk_size=5000)
    )


def writes_members(job_ids: list[int]) -> bool:
    """Whether the jobs wrote a row of any member still there (bounded: one ``EXISTS`` per
    kind of row), the web request's check before a sample is drawn on the worker."""
    for label, (model, column) in _MEMBER_OF.items():
        changed = ImportRowChange.objects.filter(job_id__in=job_ids, model=label)
        rows = model.objects.filter(pk__in=changed.values("object_pk"))
        if rows.exclude(**{f"{column}__isnull": True}).exists():
            return True
    return False


def member_ids(job_ids: list[int]):
    """Every member the jobs wrote (see the module docstring); yields ids, repeats possible."""
    for label, (model, column) in _MEMBER_OF.items():
        yield from _ids_of(model, column, label, job_ids)


def rank(seed: int, member_id: int) -> bytes:
    return hashlib.sha256(f"{seed}:{member_id}".encode()).digest()


def sample_ids(job_ids: list[int], *, size: int = DEFAULT_SIZE, seed: int) -> list[int]:
    """The ``size`` members of the jobs with the lowest rank for ``seed``, in rank order."""
    unique = set(member_ids(job_ids))
    return [pk for _, pk in heapq.nsmallest(size, ((rank(seed, pk), pk) for pk in unique))]


def completed_jobs(job_ids) -> list[ImportJob]:
    """The jobs by id, each checked to exist and be completed (``ValueError`` otherwise)."""
    ids = sorted({int(j) for j in job_ids})
    if not ids:
        raise ValueError("Name at least one import job.")
    jobs = {j.pk: j for j in ImportJob.objects.filter(pk__in=ids)}
    for pk in ids:
        job = jobs.get(pk)
        if job is None:
            raise ValueError(f"Import job #{pk} does not exist.")
        if job.status != JobStatus.COMPLETED:
            raise ValueError(
                f"Import job #{pk} is {job.get_status_display().lower()}: only completed "
                "imports can be verified."
            )
    return [jobs[pk] for pk in ids]


# --- what was stored ----------------------------------------------------------------------------
def _dt(value) -> str | None:
    return value.isoformat() if value else None


def _money(value) -> str | None:
    return None if value is None else str(value)


@dataclass
class _Keys:
    """The natural keys of one member's records, by which file rows are matched."""

    member_id: int
    email: str = ""
    user_ids: set = field(default_factory=set)
    invs: set = field(default_factory=set)
    refs: set = field(default_factory=set)
    affiliate_uids: set = field(default_factory=set)
    affiliate_codes: set = field(default_factory=set)


def stored(member_ids_: list[int]) -> tuple[dict[int, dict], dict[int, _Keys]]:
    """What the tables hold for each member (JSON-ready) and its natural keys, in a fixed
    number of queries whatever the sample size."""
    members = Member.objects.in_bulk(member_ids_)
    out: dict[int, dict] = {}
    keys: dict[int, _Keys] = {}
    for pk, m in members.items():
        out[pk] = {
            "member": {
                "id": m.pk, "email": m.email, "phone": m.phone, "name": m.name,
                "address": m.address, "group": m.group, "referrer_name": m.referrer_name,
                "job": m.job_id,
            },
            "accounts": [], "orders": [], "memberships": [], "affiliate": [], "commissions": [],
        }  # fmt: skip
        keys[pk] = _Keys(pk, email=m.email or "")
    for acc in SejoliAccount.objects.filter(member_id__in=members).order_by("user_id"):
        out[acc.member_id]["accounts"].append({"user_id": acc.user_id, "email": acc.email})
        keys[acc.member_id].user_ids.add(acc.user_id)
    orders = (
        Order.objects.filter(member_id__in=members)
        .select_related("product", "affiliate", "commission")
        .order_by("member_id", "pk")
    )
    for o in orders:
        keys[o.member_id].invs.add(o.inv)
        if len(out[o.member_id]["orders"]) >= STORED_LIMIT:
            continue
        comm = getattr(o, "commission", None)
        out[o.member_id]["orders"].append(
            {
                "inv": o.inv, "product": o.product.name, "quantity": o.quantity,
                "total": _money(o.total), "status": o.status, "payment": o.payment,
                "created_at": _dt(o.created_at), "access_expires_at": _dt(o.access_expires_at),
                "affiliate": str(o.affiliate) if o.affiliate else None,
                "commission": None if comm is None else {
                    "amount": _money(comm.amount), "status": comm.status,
                },
                "job": o.job_id,
            }
        )  # fmt: skip
    memberships = Membership.objects.filter(member_id__in=members).select_related("product")
    for ms in memberships.order_by("member_id", "pk"):
        keys[ms.member_id].refs.add(ms.ref)
        if len(out[ms.member_id]["memberships"]) < STORED_LIMIT:
            out[ms.member_id]["memberships"].append(
                {
                    "ref": ms.ref, "product": ms.product.name, "status": ms.status,
                    "started_at": _dt(ms.started_at), "expires_at": _dt(ms.expires_at),
                    "job": ms.job_id,
                }
            )  # fmt: skip
    profiles = {}
    for aff in AffiliateProfile.objects.filter(member_id__in=members).order_by("pk"):
        profiles[aff.pk] = aff.member_id
        if aff.sejoli_user_id:
            keys[aff.member_id].affiliate_uids.add(aff.sejoli_user_id)
        if aff.code:
            keys[aff.member_id].affiliate_codes.add(aff.code)
        out[aff.member_id]["affiliate"].append(
            {
                "sejoli_user_id": aff.sejoli_user_id, "code": aff.code, "name": aff.name,
                "commission_rate": _money(aff.commission_rate),
                "reported_unpaid": _money(aff.reported_unpaid), "job": aff.job_id,
            }
        )  # fmt: skip
    earned = Commission.objects.filter(affiliate_id__in=profiles).select_related("order")
    for c in earned.order_by("affiliate_id", "pk"):
        mid = profiles[c.affiliate_id]
        if len(out[mid]["commissions"]) < STORED_LIMIT:
            out[mid]["commissions"].append(
                {"order": c.order.inv, "amount": _money(c.amount), "status": c.status,
                 "reported_amount": _money(c.reported_amount)}
            )  # fmt: skip
    return out, keys


# --- where it came from -------------------------------------------------------------------------
def _text(cell) -> str:
    value = (cell or "").strip()
    return "" if value == "-" else value


def _int(cell) -> int | None:
    value = _text(cell)
    return int(value) if value.isascii() and value.isdigit() else None


def _matcher(kind: str, keys: dict[int, _Keys]):
    """A function of a raw row to the ids of the sampled members the row names."""
    index: dict[tuple, set[int]] = defaultdict(set)
    for mid, k in keys.items():
        if k.email:
            index["email", k.email] |= {mid}
        for uid in k.user_ids:
            index["uid", uid] |= {mid}
        for inv in k.invs:
            index["inv", inv] |= {mid}
        for ref in k.refs:
            index["ref", ref] |= {mid}
        for uid in k.affiliate_uids:
            index["aff", uid] |= {mid}
        for code in k.affiliate_codes:
            index["code", code] |= {mid}
    empty: set[int] = set()

    def look(*key) -> set[int]:
        return index.get(key, empty)

    if kind == JobKind.USERS:
        return lambda raw: (
            look("uid", _int(raw.get("User ID"))) | look("email", _text(raw.get("email")).lower())
        )
    if kind == JobKind.ORDERS:
        return lambda raw: look("inv", _text(raw.get("INV")))
    if kind == JobKind.SUBSCRIPTIONS:
        return lambda raw: (
            look("ref", f"INV:{_text(raw.get('INV'))}") | look("inv", _text(raw.get("INV")))
        )
    if kind == JobKind.COMMISSIONS:
        return lambda raw: (
            look("aff", _int(raw.get("user_id"))) | look("uid", _int(raw.get("user_id")))
        )
    if kind == JobKind.SHEET_ORDERS:
        return lambda raw: look("inv", _text(raw.get("order_id")))
    if kind == JobKind.SHEET_MEMBERSHIPS:
        return lambda raw: look("ref", _text(raw.get("membership_id")))
    if kind == JobKind.SHEET_AFFILIATES:
        return lambda raw: look("code", _text(raw.get("affiliate_code")))
    return lambda raw: empty  # product settings name no member


def source_jobs(job_ids: list[int], member_ids_: list[int]) -> list[ImportJob]:
    """The verified jobs and every other completed job that wrote a row of these members (one
    indexed look-up per completed job: the change log is indexed by job first)."""
    members = set(member_ids_)
    rows = [
        (label, list(model.objects.filter(**{f"{column}__in": members}).values_list("pk", flat=1)))
        for label, (model, column) in _MEMBER_OF.items()
    ]
    wanted = Q()
    for label, pks in rows:
        if pks:
            wanted |= Q(model=label, object_pk__in=pks)
    chosen = set(job_ids)
    if wanted:
        for job_id in ImportJob.objects.filter(status=JobStatus.COMPLETED).values_list(
            "pk", flat=True
        ):
            if (
                job_id not in chosen
                and ImportRowChange.objects.filter(wanted, job_id=job_id).exists()
            ):
                chosen.add(job_id)
    return list(ImportJob.objects.filter(pk__in=chosen).order_by("pk"))


class SourceUnreadable(Exception):
    """A job's stored file cannot be read any more (``sources(..., strict=True)``)."""

    def __init__(self, job: ImportJob, exc: BaseException):
        detail = "; ".join(getattr(exc, "messages", None) or [str(exc)])
        super().__init__(
            f"The file of import #{job.pk} ({job.original_name}) cannot be read: {detail}"
        )
        self.job = job


def _rows(job: ImportJob):
    """The job's file rows as the job read them: ``(row number, raw cells by column)``."""
    with job.file.open("rb") as fh:
        data = fh.read()
    source = parse_bytes(data, kind=job.kind, mapping=job.preview.get("mapping") or None)
    del data
    return source.rows()


def sources(
    jobs: list[ImportJob], keys: dict[int, _Keys], *, strict: bool = False
) -> dict[int, list[dict]]:
    """Each member's source rows across the jobs' files: ``{"job", "file", "row", "values"}``
    (``"missing"`` instead of a row when the file is gone). A file that is there but cannot be
    read is ``"missing"`` too, or, ``strict``, raises ``SourceUnreadable``."""
    out: dict[int, list[dict]] = {mid: [] for mid in keys}
    for job in jobs:
        names = _matcher(job.kind, keys)
        if not job.file:
            # the job wrote these members' rows, but its file was purged
            for mid in _written_by(job, keys):
                out[mid].append(
                    {"job": job.pk, "file": job.original_name, "row": None, "values": {},
                     "missing": "the file was purged (IMPORT_FILE_RETENTION_DAYS)"}
                )  # fmt: skip
            continue
        try:
            rows = _rows(job)
            for number, raw in rows:
                if "__error__" in raw:
                    continue
                for mid in names(raw):
                    if len(out[mid]) < SOURCE_LIMIT:
                        out[mid].append(
                            {"job": job.pk, "file": job.original_name, "row": number,
                             "values": dict(raw)}
                        )  # fmt: skip
        except (OSError, ValueError) as exc:  # includes ValidationError of a changed file
            if strict:
                raise SourceUnreadable(job, exc) from exc
            for mid in _written_by(job, keys):
                out[mid].append(
                    {"job": job.pk, "file": job.original_name, "row": None, "values": {},
                     "missing": f"the file cannot be read: {exc}"}
                )  # fmt: skip
    return out


def _written_by(job: ImportJob, keys: dict[int, _Keys]) -> list[int]:
    members = set(keys)
    ids = {mid for mid in member_ids([job.pk]) if mid in members}
    return sorted(ids)


def columns_of(job_kind: str, values: dict) -> list[tuple[str, str]]:
    """A source row's cells in the layout's column order (JSONB keeps no key order)."""
    from .layouts import REGISTRY

    layout = REGISTRY.get(job_kind)
    order = layout.columns() if layout else []
    known = [c for c in order if c in values]
    rest = sorted(c for c in values if c not in known)
    return [(c, values[c]) for c in (*known, *rest)]


def label(member: dict) -> str:
    m = member.get("member") or {}
    return m.get("email") or m.get("phone") or f"member #{m.get('id')}"


def sample(job_ids, *, size: int = DEFAULT_SIZE, seed: int, strict: bool = False) -> list[dict]:
    """The sample with each member's sources and stored data, in rank order:
    ``[{"member", "sources": [{"file", "row", "values", "job"}], "stored"}]``. ``strict``: a
    file that cannot be read raises ``SourceUnreadable`` (see ``sources``)."""
    jobs = completed_jobs(job_ids)
    ids = sample_ids([j.pk for j in jobs], size=size, seed=seed)
    data, keys = stored(ids)
    ids = [pk for pk in ids if pk in data]
    found = sources(
        source_jobs([j.pk for j in jobs], ids), {pk: keys[pk] for pk in ids}, strict=strict
    )
    kinds = dict(ImportJob.objects.filter(pk__in={s["job"] for v in found.values() for s in v})
                 .values_list("pk", "kind"))  # fmt: skip
    out = []
    for pk in ids:
        rows = []
        for s in found[pk]:
            ordered = dict(columns_of(kinds.get(s["job"], ""), s["values"]))
            # the file's cells as written, but never a credential someone pasted into one
            rows.append({**s, "values": mask_json(ordered)})
        out.append({"member": data[pk]["member"], "sources": rows, "stored": data[pk]})
    return out


# --- the signed report --------------------------------------------------------------------------
def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_hash(body: dict) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()


SIGNED_PREFIX = b"opsportal-sample-verification-v1\n"


def sign(body: dict) -> tuple[str, str]:
    """(base64 Ed25519 signature, key id) of the report body with the portal's signing key
    (``AUDIT_SIGNING_KEY``); ``("", "")`` when no key is configured (the content hash, held in
    the audit chain by the completion event, still proves the report)."""
    from opsportal.audit import checkpoints

    try:
        key = checkpoints.signing_key()
    except checkpoints.CheckpointError:
        return "", ""
    signature = key.sign(SIGNED_PREFIX + canonical(body))
    return base64.b64encode(signature).decode(), checkpoints.current_key_id(key)


def signature_ok(verification) -> bool:
    """Whether the stored report still matches its hash and signature."""
    from opsportal.audit import checkpoints

    body = verification.report
    if content_hash(body) != verification.content_hash:
        return False
    if not verification.signature:
        return True
    public = checkpoints.verify_keys().get(verification.key_id)
    if public is None:
        return False
    try:
        public.verify(base64.b64decode(verification.signature), SIGNED_PREFIX + canonical(body))
    except Exception:  # InvalidSignature, bad base64
        return False
    return True


def report_body(verification, items, *, completed_by, completed_at) -> dict:
    """The facts the report signs: who, when, the seed, the jobs and every result."""
    return {
        "verification": verification.pk,
        "jobs": sorted(verification.jobs.values_list("pk", flat=True)),
        "seed": verification.seed,
        "size": verification.size,
        "started_by": str(verification.started_by or "system"),
        "started_at": verification.started_at.isoformat(),
        "completed_by": str(completed_by or "system"),
        "completed_at": completed_at.isoformat(),
        "results": {
            "members": len(items),
            "correct": sum(1 for i in items if i.mark == "correct"),
            "wrong": sum(1 for i in items if i.mark == "wrong"),
        },
        "items": [
            {
                "position": i.position, "member": i.member_label, "mark": i.mark, "note": i.note,
                "marked_by": str(i.marked_by or ""),
                "marked_at": i.marked_at.isoformat() if i.marked_at else None,
                "review_item": i.review_item_id,
            }
            for i in items
        ],
    }  # fmt: skip


def report_markdown(verification) -> str:
    r = verification.report
    res = r["results"]
    lines = [
        f"# Sample verification #{r['verification']}",
        "",
        f"- Import jobs: {', '.join(f'#{j}' for j in r['jobs'])}",
        f"- Seed: {r['seed']} (sample of {res['members']} members, {r['size']} asked)",
        f"- Started by {r['started_by']} at {r['started_at']}",
        f"- Completed by {r['completed_by']} at {r['completed_at']}",
        f"- Results: {res['correct']} correct, {res['wrong']} wrong",
        f"- Content hash (sha256): `{verification.content_hash}`",
    ]
    if verification.signature:
        lines.append(f"- Signature (Ed25519, {verification.key_id}): `{verification.signature}`")
    lines += ["", "| # | Member | Result | Note | Marked by | Marked at |"]
    lines.append("|---|---|---|---|---|---|")
    for i in r["items"]:
        # one table row each, whatever line break a note or a name holds (\r included)
        note, member = (single_line(v).replace("|", "\\|") for v in (i["note"], i["member"]))
        lines.append(
            f"| {i['position']} | {member} | {i['mark']} | {note} | {i['marked_by']} | "
            f"{i['marked_at'] or ''} |"
        )
    return "\n".join(lines) + "\n"


def report_csv(verification) -> str:
    from opsportal.exports import escape_row

    r = verification.report
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["position", "member", "mark", "note", "marked_by", "marked_at"])
    for i in r["items"]:
        writer.writerow(
            escape_row(
                [i["position"], i["member"], i["mark"], i["note"], i["marked_by"], i["marked_at"]]
            )
        )
    writer.writerow([])
    for name, value in (
        ("verification", r["verification"]), ("jobs", " ".join(map(str, r["jobs"]))),
        ("seed", r["seed"]), ("completed_by", r["completed_by"]),
        ("completed_at", r["completed_at"]), ("correct", r["results"]["correct"]),
        ("wrong", r["results"]["wrong"]), ("content_hash", verification.content_hash),
        ("signature", verification.signature), ("key_id", verification.key_id),
    ):  # fmt: skip
        writer.writerow(escape_row(["#", name, value]))
    return buf.getvalue()
