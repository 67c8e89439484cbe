"""Recognise what a configuration value is without keeping it.

``describe(key, value)`` returns a :class:`ValueInfo`: the value kind, whether it should be
treated as a secret, the public ``detail`` that may be kept (a URL's host, a Convex deployment
name) and the masked hint. The keyed fingerprint comes from ``opsportal.audit.masking``.
"""

import base64
import binascii
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from opsportal.audit.masking import fingerprint, is_secret_name, masked_hint

from .choices import ValueKind

PUBLIC_PREFIXES = ("NEXT_PUBLIC_", "VITE_", "PUBLIC_", "EXPO_PUBLIC_", "REACT_APP_")

TEST_KINDS = frozenset(
    {
        ValueKind.STRIPE_SECRET_TEST,
        ValueKind.STRIPE_PUBLISHABLE_TEST,
        ValueKind.STRIPE_RESTRICTED_TEST,
        ValueKind.CLERK_SECRET_TEST,
        ValueKind.CLERK_PUBLISHABLE_TEST,
    }
)
LIVE_KINDS = frozenset(
    {
        ValueKind.STRIPE_SECRET_LIVE,
        ValueKind.STRIPE_PUBLISHABLE_LIVE,
        ValueKind.STRIPE_RESTRICTED_LIVE,
        ValueKind.CLERK_SECRET_LIVE,
        ValueKind.CLERK_PUBLISHABLE_LIVE,
    }
)
PUBLISHABLE_KINDS = frozenset(
    {
        ValueKind.STRIPE_PUBLISHABLE_LIVE,
        ValueKind.STRIPE_PUBLISHABLE_TEST,
        ValueKind.CLERK_PUBLISHABLE_LIVE,
        ValueKind.CLERK_PUBLISHABLE_TEST,
        ValueKind.SUPABASE_ANON_KEY,
    }
)
# Kinds that are credentials whatever the key is called.
SECRET_KINDS = frozenset(
    {
        ValueKind.STRIPE_SECRET_LIVE,
        ValueKind.STRIPE_SECRET_TEST,
        ValueKind.STRIPE_RESTRICTED_LIVE,
        ValueKind.STRIPE_RESTRICTED_TEST,
        ValueKind.STRIPE_WEBHOOK_SECRET,
        ValueKind.CLERK_SECRET_LIVE,
        ValueKind.CLERK_SECRET_TEST,
        ValueKind.CONVEX_DEPLOY_KEY,
        ValueKind.SUPABASE_SERVICE_KEY,
        ValueKind.OPENAI_KEY,
        ValueKind.ANTHROPIC_KEY,
        ValueKind.JWT,
        ValueKind.RANDOM,
    }
)

CONVEX_NAME = re.compile(r"^(?P<type>dev|prod|preview):(?P<name>[a-z]+-[a-z]+-\d+)$")
CONVEX_DEPLOY_KEY = re.compile(r"^(?P<type>dev|prod|preview):(?P<name>[A-Za-z0-9_\-]+)\|.+$")
CONVEX_HOST = re.compile(r"^(?P<name>[a-z0-9\-]+)\.convex\.(cloud|site)$")
JWT = re.compile(r"^eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
BOOLEAN = frozenset({"true", "false", "yes", "no", "on", "off", "0", "1"})


@dataclass(frozen=True)
class ValueInfo:
    kind: str
    secret: bool
    detail: str
    fingerprint: str
    hint: str


def is_public_key(key: str) -> bool:
    return key.upper().startswith(PUBLIC_PREFIXES)


def _b64_json(segment: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _clerk_like(key: str, value: str) -> bool:
    """Clerk keys share Stripe's prefixes; a publishable one encodes a ``….clerk…$`` host."""
    if "CLERK" in key.upper():
        return True
    body = value.split("_", 2)[-1]
    try:
        decoded = base64.b64decode(body + "=" * (-len(body) % 4)).decode("ascii", "ignore")
    except (binascii.Error, ValueError):
        return False
    return decoded.endswith("$") and "clerk" in decoded


def _entropy(value: str) -> float:
    counts = Counter(value)
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _looks_random(value: str) -> bool:
    if len(value) < 16 or any(c.isspace() for c in value):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    return classes >= 2 and _entropy(value) >= 3.5


def classify(key: str, value: str) -> tuple[str, bool, str]:
    """``(kind, credential, detail)`` for a value; ``credential`` is True for secret shapes."""
    v = value.strip()
    if not v:
        return ValueKind.EMPTY, False, ""
    for prefix, live, test in (
        ("sk_", ValueKind.STRIPE_SECRET_LIVE, ValueKind.STRIPE_SECRET_TEST),
        ("pk_", ValueKind.STRIPE_PUBLISHABLE_LIVE, ValueKind.STRIPE_PUBLISHABLE_TEST),
        ("rk_", ValueKind.STRIPE_RESTRICTED_LIVE, ValueKind.STRIPE_RESTRICTED_TEST),
    ):
        if v.startswith((prefix + "live_", prefix + "test_")):
            is_live = v.startswith(prefix + "live_")
            kind = live if is_live else test
            if prefix != "rk_" and _clerk_like(key, v):
                kind = {
                    ValueKind.STRIPE_SECRET_LIVE: ValueKind.CLERK_SECRET_LIVE,
                    ValueKind.STRIPE_SECRET_TEST: ValueKind.CLERK_SECRET_TEST,
                    ValueKind.STRIPE_PUBLISHABLE_LIVE: ValueKind.CLERK_PUBLISHABLE_LIVE,
                    ValueKind.STRIPE_PUBLISHABLE_TEST: ValueKind.CLERK_PUBLISHABLE_TEST,
                }[kind]
            return kind, kind in SECRET_KINDS, ""
    if v.startswith("whsec_"):
        return ValueKind.STRIPE_WEBHOOK_SECRET, True, ""
    if v.startswith("sk-ant-"):
        return ValueKind.ANTHROPIC_KEY, True, ""
    if v.startswith("sk-"):
        return ValueKind.OPENAI_KEY, True, ""
    if m := CONVEX_NAME.match(v):
        return ValueKind.CONVEX_DEPLOYMENT, False, v
    if m := CONVEX_DEPLOY_KEY.match(v):
        return ValueKind.CONVEX_DEPLOY_KEY, True, f"{m['type']}:{m['name']}"
    if JWT.match(v):
        role = _b64_json(v.split(".")[1]).get("role", "")
        if role == "anon":
            return ValueKind.SUPABASE_ANON_KEY, False, ""
        if role == "service_role":
            return ValueKind.SUPABASE_SERVICE_KEY, True, ""
        return ValueKind.JWT, True, ""
    if "://" in v:
        try:
            parts = urlsplit(v)
            host = parts.hostname or ""
            credential = bool(parts.password) or bool(
                re.search(r"(token|key|secret|password|sig)=", parts.query, re.I)
            )
            scheme = parts.scheme
        except ValueError:
            host, credential, scheme = "", True, ""
        if scheme in ("redis", "rediss"):
            return ValueKind.REDIS_URL, credential, host
        if scheme.startswith(("postgres", "mysql", "mongodb")):
            return ValueKind.DATABASE_URL, credential, host
        if CONVEX_HOST.match(host):
            return ValueKind.CONVEX_URL, credential, host
        if host.endswith(".supabase.co"):
            return ValueKind.SUPABASE_URL, credential, host
        return ValueKind.URL, credential, host
    if v.lower() in BOOLEAN:
        return ValueKind.BOOLEAN, False, ""
    if NUMBER.match(v):
        return ValueKind.NUMBER, False, ""
    if _looks_random(v):
        return ValueKind.RANDOM, True, ""
    return ValueKind.TEXT, False, ""


def suggest_secret(key: str, value: str) -> bool:
    """Secret unless the name says public *and* the value is not a credential."""
    kind, credential, _ = classify(key, value)
    if credential and kind not in PUBLISHABLE_KINDS:
        return True
    if is_public_key(key):
        return False
    if kind in PUBLISHABLE_KINDS:
        return False
    if kind in (ValueKind.URL, ValueKind.CONVEX_URL, ValueKind.SUPABASE_URL):
        return False
    if kind == ValueKind.CONVEX_DEPLOYMENT:
        return False
    return is_secret_name(key) or kind in SECRET_KINDS


def describe(key: str, value: str) -> ValueInfo:
    kind, _credential, detail = classify(key, value)
    return ValueInfo(
        kind=str(kind),
        secret=suggest_secret(key, value),
        detail=detail,
        fingerprint=fingerprint(value),
        hint=masked_hint(value),
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
