"""Chat webhook URLs at rest: Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``).

The key comes from ``NOTIFY_ENCRYPTION_KEY`` in the environment (generated into ``.env`` in
development, like ``SECRET_KEY``), never from the database, so a copy of the database alone does
not reveal where the portal posts. Any string works as a key: it is stretched to Fernet's 32 bytes
with SHA-256. Several keys, comma-separated, rotate: the first encrypts, each one decrypts
(``MultiFernet``); ``manage.py notify_rekey`` re-encrypts every channel under the first.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class KeyMissing(ImproperlyConfigured):
    pass


def _fernet_key(secret: str) -> bytes:
    digest = hashlib.sha256(b"opsportal-notify:" + secret.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest)


def configured() -> bool:
    return bool(_secrets())


def _secrets() -> list[str]:
    raw = getattr(settings, "NOTIFY_ENCRYPTION_KEY", "") or ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _box() -> MultiFernet:
    secrets = _secrets()
    if not secrets:
        raise KeyMissing(
            "NOTIFY_ENCRYPTION_KEY is not set: chat channels are off until it is (a long random "
            "string in the environment, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`)."
        )
    return MultiFernet([Fernet(_fernet_key(s)) for s in secrets])


def encrypt(value: str) -> str:
    return _box().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _box().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise KeyMissing(
            "This channel's URL was encrypted under a key NOTIFY_ENCRYPTION_KEY no longer lists: "
            "enter the URL again, or add the old key after the new one."
        ) from None


def rotate(token: str) -> str:
    """``token`` re-encrypted under the first key."""
    return _box().rotate(token.encode("ascii")).decode("ascii")
