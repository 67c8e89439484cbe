"""Sejoli's commissions export: ``user_id, affiliate name, email, phone, commission, bank info``
— the unpaid balance per affiliate (``Rp. 1.250.000``), checked against the commissions the
orders earned when the import finishes.
"""

from import_export.fields import Field

from .. import normalise as n
from ..choices import JobKind
from ..models import AffiliateProfile, Member, SejoliAccount
from ..writer import apply_changes
from .base import Batch, LayoutResource
from .widgets import EmailWidget, IntegerWidget, PhoneWidget, RupiahWidget, TextWidget


class CommissionBalancesResource(LayoutResource):
    kind = JobKind.COMMISSIONS
    key_field = "user_id"
    writes = (AffiliateProfile,)

    user_id = Field(attribute="sejoli_user_id", column_name="user_id", widget=IntegerWidget())
    name = Field(attribute="name", column_name="affiliate name", widget=TextWidget())
    email = Field(attribute="email", column_name="email", widget=EmailWidget())
    phone = Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    reported_unpaid = Field(
        attribute="reported_unpaid", column_name="commission", widget=RupiahWidget()
    )
    bank_info = Field(attribute="bank_info", column_name="bank info", widget=TextWidget())

    @classmethod
    def check(cls, values: dict) -> None:
        if not values["user_id"]:
            raise n.Invalid("missing_user_id")

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = cls.parse(b, rows)
        uids = {v["user_id"] for _, v in parsed}
        affiliates = {
            a.sejoli_user_id: a
            for a in AffiliateProfile.objects.filter(sejoli_user_id__any_of=uids)
        }
        pending = b.pending("affiliates")  # a preview's earlier batches
        affiliates.update({u: pending[u] for u in uids if u in pending})
        members = MemberFinder(
            uids={u for u in uids if u not in affiliates},
            emails={v["email"] for _, v in parsed if v["user_id"] not in affiliates},
            phones={v["phone"] for _, v in parsed if v["user_id"] not in affiliates},
        )
        new, changed, fields = [], [], set()
        for row, v in parsed:
            uid = v.pop("user_id")
            affiliate = affiliates.get(uid)
            if affiliate is None:
                member_id, _ = members.find(uid, v["email"], v["phone"])
                affiliate = affiliates[uid] = AffiliateProfile(
                    sejoli_user_id=uid, member_id=member_id, **v
                )
                new.append(affiliate)
                b.done("created", row, str(uid))
            elif affiliate.pk is None:
                b.done("unchanged", row, str(uid))  # the same user id twice in one batch
            else:
                diff = apply_changes(affiliate, v, b.w)
                if diff:
                    changed.append(affiliate)
                    fields.update(diff)
                b.done("updated" if diff else "unchanged", row, str(uid))
        b.w.create(AffiliateProfile, new)
        b.w.update(AffiliateProfile, changed, sorted(fields))
        if b.dry_run:
            pending.update({a.sejoli_user_id: a for a in new})


class MemberFinder:
    """A batch's member lookups by Sejoli user id, email and phone, in three queries."""

    def __init__(self, *, uids, emails, phones):
        self.by_uid = dict(
            SejoliAccount.objects.filter(user_id__any_of=uids).values_list("user_id", "member_id")
        )
        emails.discard("")
        phones.discard("")
        self.by_email = dict(Member.objects.filter(email__any_of=emails).values_list("email", "pk"))
        self.by_phone: dict[str, list[int]] = {}
        for pk, phone in Member.objects.filter(phone__any_of=phones).values_list("pk", "phone"):
            self.by_phone.setdefault(phone, []).append(pk)

    def find(self, uid: int | None, email: str, phone: str) -> tuple[int | None, str]:
        """(member id, how) by Sejoli user id, then email, then a phone exactly one member has."""
        if uid and uid in self.by_uid:
            return self.by_uid[uid], "user_id"
        if email and email in self.by_email:
            return self.by_email[email], "email"
        owners = self.by_phone.get(phone, []) if phone else []
        if len(owners) == 1:
            return owners[0], "phone"
        if len(owners) > 1:
            return None, "ambiguous_phone"
        return None, "unknown"
