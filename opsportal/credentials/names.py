"""What a variable's name says: public by convention, or a credential's."""

import re

from .kinds import PUBLIC_PREFIXES

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_CREDENTIAL_WORDS = frozenset(
    {
        "SECRET",
        "SECRETS",
        "PASSWORD",
        "PASSWD",
        "PWD",
        "PASS",
        "PASSPHRASE",
        "TOKEN",
        "DSN",
        "CREDENTIAL",
        "CREDENTIALS",
        "CREDS",
        "PRIVATE",
        "WEBHOOK",
        "WEBHOOKS",
        "APIKEY",
        "SALT",
        "SIGNING",
        "COOKIE",
        "AUTHORIZATION",
    }
)
# The word before a trailing KEY that makes it public: STRIPE_PUBLISHABLE_KEY, SUPABASE_ANON_KEY.
_PUBLIC_KEY_WORDS = frozenset({"PUBLIC", "PUBLISHABLE", "ANON", "SITE", "PROJECT"})
_CONNECTION_NAME = re.compile(
    r"(^|_)(DATABASE|DB|POSTGRES|POSTGRESQL|PG|MYSQL|MONGO|MONGODB|REDIS|KV|AMQP|RABBITMQ|"
    r"BROKER|CELERY_BROKER|UPSTASH_REDIS|SUPABASE_DB)(_[A-Z]+)*_(URL|URI)$|"
    r"(^|_)CONNECTION_STRING$|^DIRECT_URL$",
)


def name_words(name: str) -> list[str]:
    """``STRIPE_SECRET_KEY`` / ``stripeSecretKey`` / ``stripe-secret-key`` → words, upper case."""
    return [w.upper() for w in _WORDS.findall(name.replace("-", "_"))]


def is_public_name(name: str) -> bool:
    """Public by convention: bundlers ship these to the browser."""
    upper = name.upper()
    if upper.startswith(PUBLIC_PREFIXES):
        return True
    words = name_words(name)
    return len(words) >= 2 and words[-1] == "KEY" and words[-2] in _PUBLIC_KEY_WORDS


def credential_name_reason(name: str) -> str:
    """Why a name says its value is a credential, or ``""`` when it does not."""
    if not name or is_public_name(name):
        return ""
    words = name_words(name)
    hit = next((w for w in words if w in _CREDENTIAL_WORDS), "")
    if hit:
        return f"the name contains {hit}"
    if len(words) >= 2 and words[-1] in ("KEY", "AUTH"):
        return f"the name ends with _{words[-1]}"
    if _CONNECTION_NAME.search(name.upper()):
        return "the name is a connection string's"
    return ""


def is_credential_name(name: str) -> bool:
    return bool(credential_name_reason(name))
