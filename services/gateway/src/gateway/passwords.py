"""argon2id password hashing and the password policy."""

from __future__ import annotations

import asyncio
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; the cap only bounds the work one request can ask
_COMMON = frozenset(
    line.strip().lower()
    for line in (Path(__file__).with_name("common_passwords.txt")).read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)

# OWASP's argon2id floor is m=19 MiB, t=2, p=1; we go a little above it.
HASHER = PasswordHasher(time_cost=3, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)
# Verified when an email is unknown, so the response time does not tell whether it exists.
_DUMMY_HASH = HASHER.hash("dummy password for timing equalisation")


def password_problems(password: str, *, context: tuple[str, ...] = ()) -> list[str]:
    """Why a new password is refused (empty list: accepted). Passwords are taken as given."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 3:
        problems.append("is too common")
    if any(part and len(part) >= 4 and part.lower() in lowered for part in context):
        problems.append("must not contain your email or business name")
    return problems


async def hash_password(password: str) -> str:
    """argon2id hash, off the event loop (it is deliberately slow)."""
    return await asyncio.to_thread(HASHER.hash, password)


def _verify(stored: str | None, password: str) -> bool:
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(stored: str | None, password: str) -> bool:
    """Constant-work check: with no stored hash a dummy one is verified and False returned."""
    return await asyncio.to_thread(_verify, stored, password)


def needs_rehash(stored: str) -> bool:
    """True when the hash was made with other parameters than today's."""
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True
