"""The failed-login throttle on a real store: free tries, growing waits, per address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from ndovu import throttle
from ndovu.errors import TooManyRequestsError
from ndovu.store.db import Store
from ndovu.store.models import LoginFailure

# a write path of its own: scripts/test.sh runs it on PostgreSQL and MariaDB as well
pytestmark = pytest.mark.database


def test_waits_grow_from_thirty_seconds_to_fifteen_minutes() -> None:
    free = throttle.FREE_FAILURES
    assert [throttle.delay_s(n, free) for n in range(free)] == [0] * free
    assert [throttle.delay_s(free + n, free) for n in range(7)] == [
        30, 60, 120, 240, 480, 900, 900]


def test_five_failures_hold_that_name_back_from_that_address_only(store: Store) -> None:
    for _ in range(throttle.FREE_FAILURES):
        throttle.check(store, "alice", "10.0.0.1")
        throttle.failed(store, "alice", "10.0.0.1")
    with pytest.raises(TooManyRequestsError) as refused:
        throttle.check(store, "alice", "10.0.0.1")
    assert 0 < refused.value.retry_after_s <= 30
    assert "10.0.0.1" in refused.value.message
    throttle.check(store, "alice", "10.0.0.2")  # another address
    throttle.check(store, "bob", "10.0.0.1")  # another name


def test_a_success_clears_the_count_and_an_old_count_is_forgotten(store: Store) -> None:
    for _ in range(throttle.FREE_FAILURES - 1):
        throttle.failed(store, "alice", "10.0.0.1")
    throttle.succeeded(store, "alice", "10.0.0.1")
    throttle.failed(store, "alice", "10.0.0.1")
    throttle.check(store, "alice", "10.0.0.1")  # one failure since the success
    for _ in range(throttle.FREE_FAILURES):
        throttle.failed(store, "alice", "10.0.0.1")
    with pytest.raises(TooManyRequestsError):
        throttle.check(store, "alice", "10.0.0.1")
    # nobody added to the count for longer than FORGET_AFTER: it starts again
    with store.session() as s:
        s.execute(update(LoginFailure).values(
            last_at=datetime.now(UTC) - throttle.FORGET_AFTER - timedelta(minutes=1)))
    throttle.check(store, "alice", "10.0.0.1")
    throttle.failed(store, "alice", "10.0.0.1")
    with store.session() as s:
        assert s.scalars(select(LoginFailure.failures).where(
            LoginFailure.user_name == "alice")).one() == 1


def test_many_names_from_one_address_hold_the_address_back(store: Store) -> None:
    for i in range(throttle.FREE_ADDRESS_FAILURES):
        throttle.failed(store, f"user{i}", "10.0.0.9")
    with pytest.raises(TooManyRequestsError):
        throttle.check(store, "someone_new", "10.0.0.9")
    throttle.check(store, "someone_new", "10.0.0.8")
