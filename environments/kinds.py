"""What a configuration value is, for the inventory: kind, secrecy, public detail, hint.

The decision itself is :func:`opsportal.credentials.classify` (one classifier for the importer,
the masking of free text and the audit trail); this module adds what the inventory keeps beside
it: the keyed fingerprint and the masked hint, and the deployment names drift rules look for.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from opsportal import credentials
from opsportal.audit.masking import fingerprint, masked_hint
from opsportal.credentials import (  # noqa: F401  (re-exported for drift and hygiene)
    CONVEX_HOST,
    LIVE_KINDS,
    PUBLISHABLE_KINDS,
    TEST_KINDS,
)


@dataclass(frozen=True)
class ValueInfo:
    kind: str
    secret: bool
    detail: str
    fingerprint: str
    hint: str
    reason: str = ""
    # True when the value's own shape makes it a credential: no choice makes it public.
    forced: bool = False


def is_public_key(key: str) -> bool:
    return credentials.is_public_name(key)


def classify(key: str, value: str) -> tuple[str, bool, str]:
    """``(kind, secret, detail)``: the classifier's verdict in the inventory's terms."""
    verdict = credentials.classify(key, value)
    return verdict.kind, verdict.secret, verdict.detail


def suggest_secret(key: str, value: str) -> bool:
    return credentials.classify(key, value).secret


def describe(key: str, value: str) -> ValueInfo:
    verdict = credentials.classify(key, value)
    return ValueInfo(
        kind=str(verdict.kind),
        secret=verdict.secret,
        detail=verdict.detail,
        fingerprint=fingerprint(value),
        hint=masked_hint(value),
        reason=verdict.reason,
        forced=verdict.by_value,
    )


def deployment_names(identifier: str, url: str = "") -> set[str]:
    """Tokens that identify a deployment in values: ``dev:wary-ferret-59`` → ``wary-ferret-59``."""
    names = set()
    ident = identifier.strip()
    if ident:
        names.add(ident.split(":", 1)[-1].lower())
    if url:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        if host:
            names.add(host)
            if m := CONVEX_HOST.match(host):
                names.add(m["name"])
    return {n for n in names if len(n) >= 6}


def mentions(haystack: str, token: str) -> bool:
    """``token`` appears as a whole name: ``wary-ferret-59`` is not ``wary-ferret-590``."""
    pattern = r"(?<![a-z0-9\-])" + re.escape(token.lower()) + r"(?![a-z0-9\-])"
    return re.search(pattern, haystack.lower()) is not None
