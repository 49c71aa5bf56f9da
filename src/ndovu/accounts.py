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
from sqlalchemy.orm import Session

from ndovu import throttle
from ndovu.errors import AuthError, ConflictError, ForbiddenError, NotFoundError, SpecError
from ndovu.store.db import Store
from ndovu.store.models import ApiToken, User, as_utc

log = logging.getLogger("ndovu.accounts")

BEARER = "bearer"
SESSION = "session"
LIFETIMES = {BEARER: timedelta(days=30), SESSION: timedelta(hours=12)}
INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial-admin-password"
MIN_PASSWORD_LENGTH = 10
MIN_DISTINCT_CHARACTERS = 5
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
    disabled: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def check_new_password(password: object, name: str, field: str = "password") -> str:
    """At least MIN_PASSWORD_LENGTH characters, MIN_DISTINCT_CHARACTERS of them different
    and not blank (ten spaces, or 'aaaaaaaaaa', are not passwords), and not the name."""
    rule = (f"a password needs at least {MIN_PASSWORD_LENGTH} characters, "
            f"{MIN_DISTINCT_CHARACTERS} of them different, and not only spaces")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise SpecError(rule, field=field, hint="choose a longer password")
    if len(set(password.strip())) < MIN_DISTINCT_CHARACTERS:
        raise SpecError(rule, field=field, hint="choose a less repetitive password")
    if password.casefold() == name.casefold():
        raise SpecError("a password cannot be the user's name", field=field)
    return password


def create_user(store: Store, name: str, password: str, *, is_admin: bool = False) -> None:
    if not isinstance(name, str) or not USER_NAME.fullmatch(name):
        raise SpecError(f"user name {name!r} is not valid: use a letter, then letters, digits, "
                        "'_', '.' or '-' (at most 64)", field="name")
    check_new_password(password, name)
    try:
        with store.session() as s:
            s.add(User(name=name, password_hash=_hasher.hash(password), is_admin=is_admin))
    except IntegrityError:
        raise ConflictError(f"a user named {name!r} already exists", field="name") from None


def list_users(store: Store) -> list[Principal]:
    with store.session() as s:
        return [Principal(u.id, u.name, u.is_admin, u.disabled)
                for u in s.scalars(select(User).order_by(User.name))]


def _user(s: Session, name: str) -> User:
    user = s.scalars(select(User).where(User.name == name)).first()
    if user is None:
        raise NotFoundError(f"no user named {name!r}", field="name",
                            hint="GET /v1/users lists the users")
    return user


def set_password(store: Store, name: str, password: str, *,
                 keep_token: str | None = None) -> None:
    """A new password ends every session of the old one, but ``keep_token`` (the
    caller's own, when users change their own password)."""
    check_new_password(password, name)
    with store.session() as s:
        user = _user(s, name)
        user.password_hash = _hasher.hash(password)
        s.execute(delete(ApiToken).where(
            ApiToken.user_id == user.id,
            ApiToken.token_hash != _digest(keep_token or "")))


def _refuse_losing_the_last_admin(s: Session, user: User, verb: str) -> None:
    others = s.scalars(select(User.id).where(User.is_admin, User.id != user.id,
                                             User.disabled.is_(False)).limit(1)).first()
    if user.is_admin and others is None:
        raise ConflictError(f"cannot {verb} {user.name!r}: it is the last administrator who "
                            "can log in", field="name",
                            hint="make another administrator first")


def set_disabled(store: Store, name: str, disabled: bool, *, by: Principal) -> Principal:
    """Disable (every token revoked, no more logins) or enable again an account."""
    if name == by.name:
        raise ConflictError("you cannot disable or enable yourself", field="name")
    with store.session() as s:
        user = _user(s, name)
        if disabled:
            _refuse_losing_the_last_admin(s, user, "disable")
            s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        user.disabled = disabled
        return Principal(user.id, user.name, user.is_admin, user.disabled)


def delete_user(store: Store, name: str, *, by: Principal) -> None:
    """Delete an account and every token of it."""
    if name == by.name:
        raise ConflictError("you cannot delete yourself", field="name")
    with store.session() as s:
        user = _user(s, name)
        _refuse_losing_the_last_admin(s, user, "delete")
        s.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        s.delete(user)


def authenticate(store: Store, name: object, password: object, address: str) -> Principal:
    """The enabled user with this name and password; AuthError (saying nothing more)
    otherwise, and TooManyRequestsError while failures from ``address`` must wait
    (ndovu.throttle)."""
    refused = AuthError("invalid user name or password")
    if not isinstance(name, str) or not isinstance(password, str):
        raise refused
    throttle.check(store, name, address)
    with store.session() as s:
        user = s.scalars(select(User).where(User.name == name)).first()
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
            right = user is not None and not user.disabled
        except (VerificationError, InvalidHashError):
            right = False
        if right and user is not None and _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        principal = Principal(user.id, user.name, user.is_admin) if right and user else None
    if principal is None:
        throttle.failed(store, name, address)
        raise refused
    throttle.succeeded(store, name, address)
    return principal


def check_current_password(store: Store, principal: Principal, password: object,
                           address: str) -> None:
    """Users changing their own password prove they know the current one (a token
    alone does not do): ForbiddenError when wrong, throttled like a login."""
    try:
        authenticate(store, principal.name, password, address)
    except AuthError:
        raise ForbiddenError("currentPassword: that is not your current password",
                             field="currentPassword") from None


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
                       ApiToken.kind == bindparam("kind"), User.disabled.is_(False)))


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
