"""Passwords as the store keeps them: argon2id hashes (argon2-cffi), never the password itself.

argon2id is memory-hard (RFC 9106), so a stolen table costs an attacker memory per guess, not
only time; argon2-cffi is the maintained binding of the reference implementation. Hashing is
CPU and memory work of ~50 ms and 64 MiB: callers on an event loop run it in a worker thread.
"""

from __future__ import annotations

from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended setting (argon2-cffi's default profile).
_HASHER: Final = PasswordHasher()

MIN_PASSWORD_LENGTH: Final = 8
# Long enough for any passphrase; bounded so a request cannot make hashing read megabytes.
MAX_PASSWORD_LENGTH: Final = 1024

# Verified against when a login names no account, so a wrong login costs what a wrong
# password costs and the answer's timing does not tell which logins exist.
_NOBODY: Final = _HASHER.hash("no account has this password")


def check_password_rules(password: str) -> None:
    """ValueError saying what is wrong with a new password."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise ValueError("a password does not start or end with a space")


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; `None` (no such account) takes as long and is
    never a match."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _HASHER.verify(password_hash or _NOBODY, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
