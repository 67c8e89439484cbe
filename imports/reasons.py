"""Rejection reasons in words.

A rejected row keeps its reason as the layouts raise it: a short code (``no_contact``),
sometimes with a context prefix (``deleted user: phone_shared_by_members``), or a sentence the
reader wrote itself (``expected 12 columns, found 11``). The code stays what is stored, filtered
on and exported (scripts and saved filters rely on it); this module says it in words for people.
"""

REASONS = {
    "bad_access_days": "The access days are not a whole number of days.",
    "bad_amount": "The amount is not a Rupiah amount the importer can read.",
    "bad_commission": "The commission is neither a percentage (20%) nor a Rupiah amount.",
    "bad_commission_rate": "The affiliate's commission rate is not a number.",
    "bad_date": "The date is not a real date (or not in a format the importer reads).",
    "bad_email": "The e-mail address is not valid.",
    "bad_number": "A number column holds something that is not a number.",
    "bad_rate": "The commission rate is not a number.",
    "missing_affiliate_code": "The row has no affiliate code.",
    "missing_amount": "The amount is empty.",
    "missing_inv": "The row has no invoice number (INV).",
    "missing_membership_id": "The row has no membership id.",
    "missing_order_id": "The row has no order id.",
    "missing_product": "The row names no product.",
    "missing_user_id": "The row has no Sejoli user id.",
    "negative_amount": "The amount is negative.",
    "no_contact": "The buyer has neither an e-mail address nor a phone number, so the order "
    "cannot be tied to a member.",
    "no_email": "The user has no e-mail address.",
    "phone_shared_by_members": "The phone number belongs to more than one member, so the "
    "importer cannot tell whose it is.",
    "product_name_taken": "Another product already has this name.",
    "unknown_member": "No member matches this row's e-mail address or phone.",
    "unknown_order": "No imported order has this invoice number: import the orders first.",
    "unknown_phone": "No member has this phone number.",
    "unknown_product": "No product of that name: add it to the product settings first.",
    "unknown_status": "The status is not one the importer knows.",
}

# Context a layout puts before a code, in words.
PREFIXES = {
    "deleted user": "The buyer's account was deleted (the order has no e-mail address)",
}


def describe(reason: str) -> str:
    """``reason`` in words; a reason that is already a sentence comes back as it is."""
    reason = (reason or "").strip()
    if reason in REASONS:
        return REASONS[reason]
    prefix, sep, code = reason.partition(": ")
    if sep and code in REASONS:
        context = PREFIXES.get(prefix, prefix.capitalize())
        sentence = REASONS[code]
        return f"{context}: {sentence[:1].lower()}{sentence[1:]}"
    if reason.startswith("expected ") and " columns, found " in reason:
        return f"The row has the wrong number of cells ({reason})."
    return reason[:1].upper() + reason[1:]


def choices(reasons) -> list[tuple[str, str]]:
    """(code, words) for a filter's options, in the order given."""
    return [(r, describe(r)) for r in reasons]
