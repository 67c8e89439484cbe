"""Keep secret values out of audit rows, logs and exports.

A secret is represented by ``"***"`` plus its keyed fingerprint: enough to tell that two values are
the same (or that a value changed) without being able to recover it.
"""

import hashlib
import hmac
import re
from typing import Any

from django.conf import settings

MASK = "***"

# Key names whose values are secrets whatever they look like.
_SECRET_NAME = re.compile(
    r"(secret|password|passwd|pwd|token|api[_-]?key|private|credential|auth($|_)|signing|"
    r"dsn|webhook|salt|[a-z0-9]_key($|_)|cookie)",
    re.IGNORECASE,
)
# Names that look secret but are public by convention.
_PUBLIC_NAME = re.compile(r"^(NEXT_PUBLIC_|VITE_|PUBLIC_|EXPO_PUBLIC_)", re.IGNORECASE)

# Value shapes that are credentials wherever they appear (in free text too).
SECRET_VALUE_PATTERNS = [
    re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{8,}"),
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{8,}"),
    re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\bsk-(proj-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{20,})"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
]
# user:password@ in URLs (redis://default:pw@host, postgres://u:pw@host).
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@/\s]+)@"
)


def fingerprint(value: str) -> str:
    """HMAC-SHA256 of ``value`` under the server's fingerprint key, hex encoded."""
    key = settings.FINGERPRINT_KEY.encode()
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def masked(value: str) -> str:
    """The audit/export representation of a secret value."""
    return f"{MASK} fp:{fingerprint(value)[:16]}"


def masked_hint(value: str) -> str:
    """At most the last 4 characters, and nothing at all for short values."""
    if len(value) < 12:
        return ""
    return "…" + value[-4:]


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name)) and not _PUBLIC_NAME.match(name)


def scrub_text(text: str) -> str:
    """Replace credential-shaped substrings of free text with their masked form."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    for pattern in SECRET_VALUE_PATTERNS:
        text = pattern.sub(lambda m: masked(m.group(0)), text)
    return text


def scrub(value: Any, *, secret_keys: frozenset[str] = frozenset(), _key: str = "") -> Any:
    """Return ``value`` with every secret masked.

    A dict entry is masked when its key is listed in ``secret_keys`` or looks secret by name;
    strings anywhere are also scanned for credential-shaped substrings.
    """
    if isinstance(value, dict):
        return {
            k: (
                _mask_any(v)
                if (k in secret_keys or (isinstance(k, str) and is_secret_name(k)))
                else scrub(v, secret_keys=secret_keys, _key=k)
            )
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub(v, secret_keys=secret_keys, _key=_key) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _mask_any(value: Any) -> Any:
    if value is None or value == "" or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value if value.startswith(MASK) else masked(value)
    if isinstance(value, dict):
        return {k: _mask_any(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_any(v) for v in value]
    return masked(str(value))
