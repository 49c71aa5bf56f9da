"""Cluster leases: several engines share one database, and each cluster is worked on by
one engine at a time.

A lease is two columns of the cluster's row: its holder and when it expires (seconds since
the epoch, on the holder's clock; engines on several hosts need clocks kept in step by NTP,
far closer than the lease's length). The holder renews its leases every third of their
length while it lives; when it dies they expire and another engine claims them.

Claiming uses the database's own row locks: ``SELECT … FOR UPDATE SKIP LOCKED`` on
PostgreSQL and MariaDB, so two engines claiming at once never wait on each other and never
both win; SQLite lets one writer in at a time, and the conditional UPDATE below settles
any race there. Nothing here is home-made consensus.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.exc import OperationalError

from ndovu.store.db import Store
from ndovu.store.models import Cluster

log = logging.getLogger("ndovu.engine")

# the engine a reconcile pass runs for: events it writes carry its name
current_engine: ContextVar[str | None] = ContextVar("current_engine", default=None)


@dataclass(frozen=True)
class Claim:
    cluster_id: int
    cluster: str
    # the other engine whose expired lease this claim took over, if any
    took_over_from: str | None


class Leases:
    def __init__(self, store: Store, holder: str, ttl_s: float,
                 clock: Callable[[], float] = time.time):
        self.store = store
        self.holder = holder
        self.ttl_s = ttl_s
        self._clock = clock

    def _claimable(self, now: float) -> ColumnElement[bool]:
        """Free, expired, or ours already."""
        return or_(Cluster.lease_holder.is_(None), Cluster.lease_holder == self.holder,
                   Cluster.lease_expires < now)

    def claim(self, cluster_ids: Collection[int]) -> list[Claim]:
        """Take the leases of these clusters that are free, expired or ours already."""
        if not cluster_ids:
            return []
        now = self._clock()
        try:
            with self.store.session() as s:
                rows = s.execute(
                    select(Cluster.id, Cluster.name, Cluster.lease_holder)
                    .where(Cluster.id.in_(list(cluster_ids)), self._claimable(now))
                    .with_for_update(skip_locked=True)).all()
                if not rows:
                    return []
                candidates = [r.id for r in rows]
                s.execute(update(Cluster)
                          .where(Cluster.id.in_(candidates), self._claimable(now))
                          .values(lease_holder=self.holder, lease_expires=now + self.ttl_s)
                          .execution_options(synchronize_session=False))
                # what the UPDATE really took (on SQLite another engine may have won a
                # row between our read and our write; elsewhere the row locks decide)
                won = set(s.scalars(select(Cluster.id).where(
                    Cluster.id.in_(candidates), Cluster.lease_holder == self.holder)))
        except OperationalError as exc:
            # SQLite: another process is writing; try again on the next round
            log.info("lease claim deferred: %s", exc.orig)
            return []
        return [Claim(r.id, r.name, r.lease_holder
                      if r.lease_holder not in (None, self.holder) else None)
                for r in rows if r.id in won]

    def renew(self, cluster_ids: Collection[int]) -> set[int]:
        """Extend our leases on these clusters; return the ones still ours."""
        if not cluster_ids:
            return set()
        now = self._clock()
        with self.store.session() as s:
            s.execute(update(Cluster)
                      .where(Cluster.id.in_(list(cluster_ids)),
                             Cluster.lease_holder == self.holder)
                      .values(lease_expires=now + self.ttl_s)
                      .execution_options(synchronize_session=False))
            return set(s.scalars(select(Cluster.id).where(
                Cluster.id.in_(list(cluster_ids)), Cluster.lease_holder == self.holder)))

    def release(self, cluster_ids: Collection[int] | None = None) -> None:
        """Give up our leases on these clusters (None: on every cluster)."""
        condition = Cluster.lease_holder == self.holder
        if cluster_ids is not None:
            if not cluster_ids:
                return
            condition = condition & Cluster.id.in_(list(cluster_ids))
        with self.store.session() as s:
            s.execute(update(Cluster).where(condition)
                      .values(lease_holder=None, lease_expires=None)
                      .execution_options(synchronize_session=False))
