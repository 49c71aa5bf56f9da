"""Users, passwords and API tokens.

Passwords are kept as Argon2id hashes (argon2-cffi, the OWASP recommendation); tokens are
random 256-bit strings kept only as their SHA-256, so neither a database dump nor a log
line gives anyone a working credential. A bearer token authenticates /v1; a session
token is the /serengeti session cookie (BDE's form login).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.exc import IntegrityError

from ndovu.errors import AuthError, ConflictError, SpecError
from ndovu.store.db import Store
from ndovu.store.models import ApiToken, User, as_utc

log = logging.getLogger("ndovu.accounts")

BEARER = "bearer"
SESSION = "session"
LIFETIMES = {BEARER: timedelta(days=30), SESSION: timedelta(hours=12)}
INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"
MIN_PASSWORD_LENGTH = 10
USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")

_hasher = PasswordHasher()
# verified against when the user does not exist, so a wrong name costs as much time as a
# wrong password and the answer time does not tell which names exist
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    user_id: int
    name: str
    is_admin: bool


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def check_new_password(password: object, field: str = "password") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise SpecError(f"a password must have at least {MIN_PASSWORD_LENGTH} characters",
                        field=field, hint="choose a longer password")
    return password


def create_user(store: Store, name: str, password: str, *, is_admin: bool = False) -> None:
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise SpecError(f"user name {name!r} is not valid: use a letter, then letters, digits, "
                        "'_', '.' or '-' (at most 64)", field="name")
    check_new_password(password)
    try:
        with store.session() as s:
            s.add(User(name=name, password_hash=_hasher.hash(password), is_admin=is_admin))
    except IntegrityError:
        raise ConflictError(f"a user named {name!r} already exists", field="name") from None


def list_users(store: Store) -> list[Principal]:
    with store.session() as s:
        return [Principal(u.id, u.name, u.is_admin)
                for u in s.scalars(select(User).order_by(User.name))]


def set_password(store: Store, name: str, password: str) -> None:
    check_new_password(password)
    with store.session() as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise SpecError(f"no user named {name!r}", field="name")
        user.password_hash = _hasher.hash(password)
        # a new password ends every session of the old one
        s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))


def authenticate(store: Store, name: object, password: object) -> Principal:
    """The user with this name and password; AuthError (saying nothing more) otherwise."""
    refused = AuthError("invalid user name or password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise refused
    with store.session() as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            raise refused from None
        if user is None:
            raise refused
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        return Principal(user.id, user.name, user.is_admin)


def issue_token(store: Store, principal: Principal, kind: str) -> tuple[str, datetime]:
    token = secrets.token_urlsafe(32)
    expires = _now() + LIFETIMES[kind]
    with store.session() as s:
        # expired tokens of this user are swept here rather than by a background job
        s.execute(delete(ApiToken).where(ApiToken.user_id == principal.user_id,
                                         ApiToken.expires_at < _now()))
        s.add(ApiToken(user_id=principal.user_id, token_hash=_digest(token), kind=kind,
                       expires_at=expires))
    return token, expires


# the token's owner, by the token's unique hash: one indexed SELECT
_TOKEN_OWNER = (select(User.id, User.name, User.is_admin, ApiToken.expires_at)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == bindparam("token_hash"),
                       ApiToken.kind == bindparam("kind")))


def resolve_token(conn: Connection, token: str | None, kind: str) -> Principal | None:
    """The owner of an unexpired token of this kind, else None. It takes a connection
    rather than the store: the API runs it on every request (see ndovu.api.reading).

    Asked of the database on every call, never cached: a revoked token (or every token of
    a user whose password changed) is refused at once, by every API process that shares
    the database. It is one indexed SELECT in SQLAlchemy Core, a few tens of microseconds;
    an ORM session and a lazy load of the user cost ten times that."""
    if not token:
        return None
    row = conn.execute(_TOKEN_OWNER, {"token_hash": _digest(token), "kind": kind}).first()
    if row is None or as_utc(row.expires_at) <= _now():
        return None
    return Principal(row.id, row.name, row.is_admin)


def revoke_token(store: Store, token: str) -> None:
    with store.session() as s:
        s.execute(delete(ApiToken).where(ApiToken.token_hash == _digest(token)))


def ensure_initial_admin(store: Store, state_dir: Path) -> Path | None:
    """On the first start (no users at all) create ``admin`` with a random password and
    write it to a file only its owner can read; return the file's path, else None.

    The password is never logged. Change it with `ndovu user passwd admin`."""
    with store.session() as s:
        if s.scalars(select(User.id).limit(1)).first() is not None:
            return None
    password = secrets.token_urlsafe(18)
    try:
        create_user(store, INITIAL_ADMIN, password, is_admin=True)
    except ConflictError:
        return None  # another server process sharing the database was first
    path = state_dir / INITIAL_PASSWORD_FILE
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return path
