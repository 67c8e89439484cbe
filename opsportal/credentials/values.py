"""What a value's own shape says, and the verdict from name and value together."""

import base64
import binascii
import json
import math
import re
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

from .kinds import PUBLISHABLE_KINDS, Kind, Verdict
from .names import credential_name_reason, is_public_name

# What masking leaves in place of a credential part of a URL.
MASKED = "***"

REFERENCE = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}$")
CONVEX_NAME = re.compile(r"^(?P<type>dev|prod|preview):(?P<name>[a-z]+-[a-z]+-\d+)$")
CONVEX_DEPLOY_KEY = re.compile(
    r"^(?P<type>dev|prod|preview|project):(?P<name>[A-Za-z0-9_\-:]+)\|(?P<token>\S{8,})$"
)
CONVEX_HOST = re.compile(r"^(?P<name>[a-z0-9\-]+)\.(?:[a-z0-9\-]+\.)?convex\.(cloud|site)$")
JWT = re.compile(r"^eyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*$")
EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
BOOLEAN = frozenset({"true", "false", "yes", "no", "on", "off", "0", "1"})

# (kind, pattern) for provider token formats, anchored for whole values. The same bodies,
# unanchored, find credentials inside free text (``_TEXT_PATTERNS``).
_TOKEN_FORMATS: tuple[tuple[str, str], ...] = (
    (Kind.ANTHROPIC_KEY, r"sk-ant-[A-Za-z0-9_\-]{16,}"),
    (Kind.OPENAI_KEY, r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}"),
    (Kind.SUPABASE_SECRET_KEY, r"sb_secret_[A-Za-z0-9_\-]{16,}"),
    (Kind.SUPABASE_PUBLISHABLE_KEY, r"sb_publishable_[A-Za-z0-9_\-]{16,}"),
    (Kind.GITHUB_TOKEN, r"(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    (Kind.AWS_ACCESS_KEY, r"(?:AKIA|ASIA)[0-9A-Z]{16}"),
    (Kind.GOOGLE_API_KEY, r"AIza[0-9A-Za-z_\-]{35}"),
    (Kind.SENDGRID_KEY, r"SG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}"),
    (Kind.RESEND_KEY, r"re_[A-Za-z0-9]{6,}_[A-Za-z0-9_]{12,}"),
    (Kind.TWILIO_KEY, r"SK[0-9a-f]{32}"),
    (Kind.SLACK_TOKEN, r"xox[abposr]-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,}"),
    (Kind.POSTHOG_PERSONAL_KEY, r"phx_[A-Za-z0-9]{20,}"),
    (Kind.POSTHOG_PROJECT_KEY, r"phc_[A-Za-z0-9]{20,}"),
    (Kind.TELEGRAM_BOT, r"\d{6,12}:AA[A-Za-z0-9_\-]{30,}"),
    # this portal's own API tokens (opsportal/api/tokens.py): opsp_<id>_<40 base62>
    (Kind.OPSPORTAL_TOKEN, r"opsp_[1-9][0-9]{0,18}_[A-Za-z0-9]{40}"),
)
_TOKEN_RES = tuple((kind, re.compile(f"^(?:{body})$")) for kind, body in _TOKEN_FORMATS)
PEM_PRIVATE = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")

# Webhook/heartbeat URLs whose path is the credential.
_WEBHOOK_HOSTS: tuple[tuple[str, re.Pattern], ...] = (
    (Kind.SLACK_WEBHOOK, re.compile(r"^hooks\.slack\.com$")),
    (Kind.DISCORD_WEBHOOK, re.compile(r"^(?:\w+\.)?discord(?:app)?\.com$")),
    (Kind.TELEGRAM_BOT, re.compile(r"^api\.telegram\.org$")),
    (Kind.TEAMS_WEBHOOK, re.compile(r"(?:^|\.)webhook\.office\.com$|\.logic\.azure\.com$")),
)
_HEARTBEAT_HOSTS = re.compile(
    r"(?:^|\.)(?:hc-ping\.com|cronitor\.link|heartbeat\.uptimerobot\.com|"
    r"uptime\.betterstack\.com|betteruptime\.com|healthchecks\.io|cronhub\.io|deadmanssnitch\.com|"
    r"nosnch\.in)$"
)
_QUERY_CREDENTIAL = re.compile(
    r"^(?:.*[_\-])?(?:token|key|apikey|secret|sig|signature|password|passwd|pwd|auth|"
    r"access_token|credential|code)$",
    re.IGNORECASE,
)
_PUBLIC_QUERY_KEYS = frozenset({"sslmode", "schema", "pgbouncer", "connection_limit"})


def _b64_json(segment: str) -> dict:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: nested too deeply
        return {}
    return data if isinstance(data, dict) else {}


def _clerk_like(name: str, value: str) -> bool:
    """Clerk keys share Stripe's prefixes; a publishable one encodes a ``….clerk…$`` host."""
    if "CLERK" in name.upper():
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


def looks_random(value: str) -> bool:
    """A long token of mixed characters with high entropy: what generated secrets look like."""
    if len(value) < 16 or any(c.isspace() for c in value):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"\d", r"[^A-Za-z0-9]"))
    if classes < 2:
        return False
    # An e-mail, a path or a dotted identifier is text, not a token.
    if "@" in value or value.count("/") > 1 or value.count(".") > 2:
        return False
    if len(value) >= 32 and _HEX.match(value):
        # 16 random bytes as hex (`openssl rand -hex 16`) reach only ~3.3–3.9 bits per
        # character: one secret in five falls under the general threshold (measured).
        return _entropy(value) >= 3.0
    return _entropy(value) >= 3.5


def _random_segment(segment: str) -> bool:
    """A path segment that is a token (``/services/T0/B0/<token>``), not a word or an id."""
    if len(segment) < 20:
        return False
    if UUID.match(segment) or NUMBER.match(segment):
        return False
    return looks_random(segment)


def _stripe_like(name: str, v: str) -> Verdict | None:
    for prefix, live, test in (
        ("sk_", Kind.STRIPE_SECRET_LIVE, Kind.STRIPE_SECRET_TEST),
        ("pk_", Kind.STRIPE_PUBLISHABLE_LIVE, Kind.STRIPE_PUBLISHABLE_TEST),
        ("rk_", Kind.STRIPE_RESTRICTED_LIVE, Kind.STRIPE_RESTRICTED_TEST),
    ):
        if v.startswith((prefix + "live_", prefix + "test_")) and len(v) >= len(prefix) + 13:
            kind = live if v.startswith(prefix + "live_") else test
            if prefix != "rk_" and _clerk_like(name, v):
                kind = {
                    Kind.STRIPE_SECRET_LIVE: Kind.CLERK_SECRET_LIVE,
                    Kind.STRIPE_SECRET_TEST: Kind.CLERK_SECRET_TEST,
                    Kind.STRIPE_PUBLISHABLE_LIVE: Kind.CLERK_PUBLISHABLE_LIVE,
                    Kind.STRIPE_PUBLISHABLE_TEST: Kind.CLERK_PUBLISHABLE_TEST,
                }[kind]
            if prefix == "pk_":
                return _public(kind)
            return _credential(kind)
    return None


def _credential(kind: str, detail: str = "", reason: str = "") -> Verdict:
    label = Kind(kind).label if kind in Kind.values else kind
    return Verdict(
        kind=kind,
        secret=True,
        detail=detail,
        reason=reason or f"the value is a {label}",
        by_value=True,
    )


def _public(kind: str, detail: str = "") -> Verdict:
    label = Kind(kind).label if kind in Kind.values else kind
    return Verdict(
        kind=kind,
        secret=False,
        detail=detail,
        reason=f"{label}: public by design",
        public_by_design=True,
    )


def _classify_url(name: str, v: str) -> Verdict:
    try:
        parts = urlsplit(v)
        host = (parts.hostname or "").lower()
        scheme = parts.scheme.lower()
        password, username = parts.password, parts.username
        # Already masked (``user:***@``): what remains is not a credential.
        password = None if password == MASKED else password
        username = None if username == MASKED else username
    except ValueError:
        return _credential(
            Kind.URL_WITH_CREDENTIALS, reason="the value is a URL that cannot be read"
        )
    path_segments = [s for s in parts.path.split("/") if s]
    if scheme in ("redis", "rediss"):
        kind = Kind.REDIS_URL
    elif scheme.startswith(("postgres", "mysql", "mongodb", "amqp", "mssql", "sqlserver")):
        kind = Kind.DATABASE_URL
    elif CONVEX_HOST.match(host):
        kind = Kind.CONVEX_URL
    elif host.endswith(".supabase.co"):
        kind = Kind.SUPABASE_URL
    else:
        kind = Kind.URL
    for hook_kind, host_re in _WEBHOOK_HOSTS:
        if host_re.search(host):
            tokenish = [s for s in path_segments if len(s) >= 16 or s.startswith("bot")]
            if hook_kind == Kind.TEAMS_WEBHOOK or tokenish or parts.query:
                return _credential(
                    hook_kind, host, f"the value is a {Kind(hook_kind).label} (its path is the key)"
                )
    if username and (host.endswith(".sentry.io") or (not password and "sentry" in host)):
        return _credential(Kind.SENTRY_DSN, host)
    if password:
        return _credential(
            Kind.URL_WITH_CREDENTIALS if kind == Kind.URL else kind,
            host,
            "the URL carries a password",
        )
    if (username and _random_segment(username)) or (username and len(username) >= 24):
        return _credential(
            Kind.URL_WITH_CREDENTIALS if kind == Kind.URL else kind,
            host,
            "the URL carries a key as its user",
        )
    try:
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        query = []
    for key, value in query:
        if (
            value
            and value != MASKED
            and key.lower() not in _PUBLIC_QUERY_KEYS
            and _QUERY_CREDENTIAL.match(key)
        ):
            return _credential(
                Kind.URL_WITH_CREDENTIALS if kind == Kind.URL else kind,
                host,
                f"the URL carries a credential in its query ({key}=)",
            )
    if _HEARTBEAT_HOSTS.search(host) and path_segments:
        return _credential(
            Kind.WEBHOOK_URL, host, "the value is a heartbeat URL (its path is the key)"
        )
    lowered = [s.lower() for s in path_segments]
    if any(s in ("webhook", "webhooks", "hooks", "hook") for s in lowered) and any(
        _random_segment(s) for s in path_segments
    ):
        return _credential(
            Kind.WEBHOOK_URL, host, "the value is a webhook URL with a token in its path"
        )
    if any(_random_segment(s) and len(s) >= 32 for s in path_segments):
        return _credential(
            Kind.WEBHOOK_URL if kind == Kind.URL else kind,
            host,
            "the URL's path carries a token",
        )
    return Verdict(kind=kind, secret=False, detail=host)


def classify_value(name: str, value: str) -> Verdict | None:
    """The verdict a value's own shape gives, or ``None`` when the shape decides nothing."""
    v = value.strip()
    if stripe := _stripe_like(name, v):
        return stripe
    if v.startswith("whsec_") and len(v) >= 14:
        upper = name.upper()
        if "CLERK" in upper or "SVIX" in upper:
            return _credential(Kind.CLERK_WEBHOOK_SECRET)
        if "STRIPE" in upper:
            return _credential(Kind.STRIPE_WEBHOOK_SECRET)
        return _credential(Kind.WEBHOOK_SECRET)
    for kind, pattern in _TOKEN_RES:
        if pattern.match(v):
            if kind in PUBLISHABLE_KINDS:
                return _public(kind)
            return _credential(kind)
    if PEM_PRIVATE.search(v):
        return _credential(Kind.PRIVATE_KEY)
    if CONVEX_NAME.match(v):
        return Verdict(kind=Kind.CONVEX_DEPLOYMENT, secret=False, detail=v)
    if m := CONVEX_DEPLOY_KEY.match(v):
        return _credential(Kind.CONVEX_DEPLOY_KEY, f"{m['type']}:{m['name']}")
    if JWT.match(v):
        claims = _b64_json(v.split(".")[1])
        ref = claims.get("ref") if isinstance(claims.get("ref"), str) else ""
        detail = f"supabase:{ref}" if ref and re.fullmatch(r"[a-z0-9]{6,40}", ref) else ""
        if claims.get("role") == "anon":
            return _public(Kind.SUPABASE_ANON_KEY, detail)
        if claims.get("role") == "service_role":
            return _credential(Kind.SUPABASE_SERVICE_KEY, detail)
        return _credential(Kind.JWT, detail)
    if re.match(r"^[a-z][a-z0-9+.\-]*://", v, re.IGNORECASE):
        return _classify_url(name, v)
    if EMAIL.match(v):
        return _public(Kind.EMAIL)
    return None


def classify(name: str, value: str) -> Verdict:
    """Decide from the name and the value together (see the module's docstring for the order)."""
    v = value.strip()
    if not v:
        return Verdict(kind=Kind.EMPTY, secret=False)
    if m := REFERENCE.match(v):
        return Verdict(
            kind=Kind.REFERENCE,
            secret=False,
            detail=m["name"],
            reason=f"a reference to {m['name']}",
        )
    verdict = classify_value(name, v)
    if verdict is not None and (verdict.secret or verdict.public_by_design):
        return verdict
    kind = verdict.kind if verdict is not None else None
    detail = verdict.detail if verdict is not None else ""
    if kind is None:
        if v.lower() in BOOLEAN:
            kind = Kind.BOOLEAN
        elif NUMBER.match(v):
            kind = Kind.NUMBER
        elif UUID.match(v):
            kind = Kind.UUID
        elif looks_random(v):
            kind = Kind.RANDOM
        else:
            kind = Kind.TEXT
    if kind == Kind.TEXT:
        from .text import find_credentials  # text builds on this module's formats

        if find_credentials(v):
            reason = "the value contains a credential"
            return Verdict(kind=kind, secret=True, reason=reason, by_value=True)
    if is_public_name(name):
        return Verdict(kind=kind, secret=False, detail=detail, reason="the name says it is public")
    if reason := credential_name_reason(name):
        # A random token under a credential's name is certain enough to overrule "public".
        forced = kind == Kind.RANDOM
        return Verdict(kind=kind, secret=True, detail=detail, reason=reason, by_value=forced)
    if kind == Kind.RANDOM:
        # Not forced: a build hash or an opaque public id can look random; the operator may
        # say so. Provider formats above are certain and are forced.
        reason = "the value is a long random string"
        return Verdict(kind=kind, secret=True, detail=detail, reason=reason)
    return Verdict(kind=kind, secret=False, detail=detail)


def is_credential(name: str, value: str) -> bool:
    return classify(name, value).secret
