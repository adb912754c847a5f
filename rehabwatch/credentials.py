"""Secrets and their stored forms: API tokens, session cookies, CSRF tokens, passwords.

A token is ``rwt_`` + a public id (shown in lists and the audit trail) + ``_`` + 32 random
bytes (URL-safe base64); only the SHA-256 of the whole token is stored, which is enough for
a value with 256 random bits (no dictionary to try). Passwords are hashed with argon2id
(argon2-cffi's RFC 9106 low-memory profile), whose cost is what slows guessing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "rwt_"
SECRET_BYTES = 32
#: Shortest password accepted for a staff user.
MIN_PASSWORD = 12

_hasher = PasswordHasher()


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A new API token and its public id."""
    token_id = secrets.token_hex(6)
    return f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(SECRET_BYTES)}", token_id


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 40 < len(value) < 100


def new_secret() -> str:
    """A session cookie value or CSRF token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(SECRET_BYTES)


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(a.encode(), b.encode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when a sign-in names no user, so an unknown name costs as long."""
    return hash_password(secrets.token_urlsafe(16))
