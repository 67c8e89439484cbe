"""Sejoli's users export: ``User ID, name, email, phone, address, affiliate, group``.

Every WordPress user becomes a ``SejoliAccount`` of a ``Member`` (deduplicated by normalised
email: twin accounts whose emails differ only in case are one member).
"""

from import_export.fields import Field

from .. import normalise as n
from ..choices import JobKind
from ..models import Member, SejoliAccount
from ..writer import apply_changes
from .base import Batch, LayoutResource
from .widgets import EmailWidget, IntegerWidget, PhoneWidget, TextWidget


class UsersResource(LayoutResource):
    kind = JobKind.USERS
    key_field = "user_id"
    writes = (Member, SejoliAccount)

    user_id = Field(attribute="user_id", column_name="User ID", widget=IntegerWidget())
    name = Field(attribute="name", column_name="name", widget=TextWidget())
    email = Field(attribute="email", column_name="email", widget=EmailWidget())
    phone = Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    address = Field(attribute="address", column_name="address", widget=TextWidget(2000))
    referrer_name = Field(attribute="referrer_name", column_name="affiliate", widget=TextWidget())
    group = Field(attribute="group", column_name="group", widget=TextWidget(100))
    # the account keeps the address as WordPress had it (case included)
    account_email = Field(column_name="email", widget=TextWidget(254))

    @classmethod
    def check(cls, values: dict) -> None:
        if values["user_id"] is None:
            raise n.Invalid("missing_user_id")
        if not values["email"]:
            raise n.Invalid("no_email")

    @classmethod
    def handle(cls, b: Batch, rows) -> None:
        parsed = cls.parse(b, rows)
        emails = {v["email"] for _, v in parsed}
        members = {m.email: m for m in Member.objects.filter(email__any_of=emails)}
        uids = {v["user_id"] for _, v in parsed}
        accounts = {a.user_id: a for a in SejoliAccount.objects.filter(user_id__any_of=uids)}
        # A member's details come from its oldest account; a merged twin only fills gaps, so
        # importing the same file again changes nothing.
        primary: dict[int, int] = {}
        for member_id, uid in SejoliAccount.objects.filter(
            member_id__any_of=[m.pk for m in members.values()]
        ).values_list("member_id", "user_id"):
            primary[member_id] = min(uid, primary.get(member_id, uid))
        # what earlier batches of a preview created, as the database would have it
        pending_members, pending_accounts = b.pending("members"), b.pending("accounts")
        pending_primary = b.pending("primary")
        members.update({e: pending_members[e] for e in emails if e in pending_members})
        accounts.update({u: pending_accounts[u] for u in uids if u in pending_accounts})
        primary.update(pending_primary)
        new_members: dict[str, Member] = {}
        updated_members: dict[int, tuple[Member, set]] = {}
        new_accounts = []
        outcomes = []
        # Oldest account first, so a member created here already has the details a re-import
        # would settle on (the oldest account's, gaps filled from its twins).
        parsed.sort(key=lambda p: p[1]["user_id"])
        for row, v in parsed:
            uid, email = v["user_id"], v["email"]
            values = {k: v[k] for k in ("name", "phone", "address", "group", "referrer_name")}
            member = members.get(email) or new_members.get(email)
            outcome = "unchanged"
            if member is None:
                member = Member(email=email, **values)
                new_members[email] = member
                outcome = "created"
            elif member.pk is None:
                for field, value in values.items():
                    if value and not getattr(member, field):
                        setattr(member, field, value)
            else:
                if uid <= primary.get(member.pk, uid):
                    wanted = {k: val for k, val in values.items() if val}
                else:
                    wanted = {k: val for k, val in values.items() if val and not getattr(member, k)}
                diff = apply_changes(member, wanted, b.w)
                if diff:
                    updated_members.setdefault(member.pk, (member, set()))[1].update(diff)
                    outcome = "updated"
            account = accounts.get(uid)
            if account is None:
                account = SejoliAccount(user_id=uid, email=v["account_email"])
                account._member = member
                accounts[uid] = account
                new_accounts.append(account)
                if outcome == "unchanged":
                    outcome = "updated"  # a twin account merged into an existing member
            outcomes.append((outcome, row, str(uid)))
        b.w.create(Member, list(new_members.values()))
        for account in new_accounts:
            account.member = account._member
        b.w.create(SejoliAccount, new_accounts)
        if b.dry_run:
            pending_members.update(new_members)
            for account in new_accounts:
                pending_accounts[account.user_id] = account
                mid = account.member_id
                pending_primary[mid] = min(
                    account.user_id, pending_primary.get(mid, account.user_id)
                )
        fields = sorted(set().union(*(f for _, f in updated_members.values())))
        b.w.update(Member, [m for m, _ in updated_members.values()], fields)
        for outcome in outcomes:
            b.done(*outcome)
