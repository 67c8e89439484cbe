"""Keep secret values out of audit rows, logs and exports.

A secret is represented by ``"***"`` plus its keyed fingerprint: enough to tell that two values are
the same (or that a value changed) without being able to recover it.
"""

import hashlib
import hmac
from typing import Any

from django.conf import settings

from opsportal import credentials

MASK = "***"


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
    """The classifier's rule for names (``opsportal.credentials``)."""
    return credentials.is_credential_name(name)


def scrub_text(text: str) -> str:
    """Replace every credential in free text with its masked form (``*** fp:…``).

    What counts as a credential is the classifier's business (:mod:`opsportal.credentials`):
    provider token formats, URLs carrying a password or a token, ``NAME=value`` where the name
    says credential, long random tokens.
    """
    if not text:
        return text
    return credentials.mask_text(text, masked)


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
