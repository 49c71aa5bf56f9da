"""Failed logins slow down the next try, per user name and source address.

Counted in the store, so every API process sharing the database throttles alike. After
``FREE_FAILURES`` failures in a row for one name from one address, each further try from
that address waits twice as long as the last (30 s, 1 min, 2 min, … at most 15 minutes:
a person who mistyped five times barely notices, a guesser gets a few dozen tries an
hour); a try
while waiting is refused with 429 and when to come back, whether its password is right
or not (else the answer would tell). Another address is not held back: nobody can lock
the admin out by failing on purpose. A spray of many names from one address is held back
as a whole after ``FREE_ADDRESS_FAILURES``. A success clears that name's count from that
address; a count nobody added to for ``FORGET_AFTER`` starts again from zero.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ndovu.errors import TooManyRequestsError
from ndovu.store.db import Store
from ndovu.store.models import LoginFailure, as_utc

FREE_FAILURES = 5
FREE_ADDRESS_FAILURES = 50
FIRST_DELAY_S = 30
MAX_DELAY_S = 15 * 60
FORGET_AFTER = timedelta(hours=1)
# the row counting every name's failures from one address (no user name starts with it)
ANY_NAME = "*"


def delay_s(failures: int, free: int) -> int:
    """Seconds a try must wait after ``failures`` failures in a row, ``free`` of them
    without any wait."""
    return 0 if failures < free else min(MAX_DELAY_S, FIRST_DELAY_S * 2 ** (failures - free))


def _now() -> datetime:
    return datetime.now(UTC)


def _rows(s: Session, name: str, address: str) -> list[LoginFailure]:
    return list(s.scalars(select(LoginFailure).where(
        LoginFailure.address == address, LoginFailure.user_name.in_([name, ANY_NAME]))))


def check(store: Store, name: str, address: str) -> None:
    """Refuse (429) a login try that must still wait."""
    now = _now()
    with store.session() as s:
        for row in _rows(s, name, address):
            last = as_utc(row.last_at)
            if now - last > FORGET_AFTER:
                continue
            free = FREE_ADDRESS_FAILURES if row.user_name == ANY_NAME else FREE_FAILURES
            wait = (last + timedelta(seconds=delay_s(row.failures, free)) - now)
            if wait.total_seconds() > 0:
                retry = math.ceil(wait.total_seconds())
                raise TooManyRequestsError(
                    f"too many failed logins from {address}; try again in {retry} s",
                    retry_after_s=retry,
                    hint="check the user name and password; another address is not held "
                         "back")


def failed(store: Store, name: str, address: str) -> None:
    now = _now()
    for attempt in range(2):  # a concurrent first failure may insert the same row
        try:
            with store.session() as s:
                rows = {r.user_name: r for r in _rows(s, name, address)}
                for key in (name, ANY_NAME):
                    row = rows.get(key)
                    if row is None:
                        s.add(LoginFailure(user_name=key, address=address, failures=1,
                                           last_at=now))
                    else:
                        stale = now - as_utc(row.last_at) > FORGET_AFTER
                        row.failures = 1 if stale else row.failures + 1
                        row.last_at = now
            return
        except IntegrityError:
            if attempt:
                raise


def succeeded(store: Store, name: str, address: str) -> None:
    with store.session() as s:
        for row in s.scalars(select(LoginFailure).where(LoginFailure.address == address,
                                                        LoginFailure.user_name == name)):
            s.delete(row)
