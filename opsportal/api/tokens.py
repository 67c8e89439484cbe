"""The token string: ``opsp_<id>_<secret>``.

``id`` names the row (so a lookup is one primary-key read and a pasted token says which token it
is), ``secret`` is 40 characters of base62 from ``secrets`` (about 238 bits). Only
``sha256(secret)`` is stored. A slow hash (PBKDF2, Argon2) protects *guessable* secrets such as
passwords from brute force after a leak of the hashes; a 238-bit random secret cannot be guessed
whatever the hash speed, and a slow hash would cost every API request ~100 ms of CPU. The
comparison is constant-time.
"""

import hashlib
import hmac
import re
import secrets
import string

PREFIX = "opsp"
SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
# The same format is registered with the secret classifier (opsportal.credentials), so a
# pasted token is masked in free text and refused as a plain value.
TOKEN_RE = re.compile(
    rf"^{PREFIX}_(?P<id>[1-9][0-9]{{0,18}})_(?P<secret>[A-Za-z0-9]{{{SECRET_LENGTH}}})$"
)


def new_secret() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def token_string(token_id: int, secret: str) -> str:
    return f"{PREFIX}_{token_id}_{secret}"


def parse(raw: str) -> tuple[int, str] | None:
    """``(id, secret)`` of a well-formed token string, else None."""
    m = TOKEN_RE.match((raw or "").strip())
    if m is None:
        return None
    return int(m["id"]), m["secret"]


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
