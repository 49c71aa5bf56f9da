"""How async routes and dependencies read the store: ``await ctx.read(fn, *args)`` calls
``fn(connection, *args)``.

With SQLite the read runs right on the event loop. An indexed read takes tens of
microseconds, less than a hop to a worker thread and back (a sync route pays one for the
route and one for each sync dependency), and a WAL reader never waits for a writer. The
loop's reads share one kept connection instead of taking one from the pool and resetting
it on the way back, twice per request; each read ends its transaction, so the next sees
every commit made since.

A server database (PostgreSQL, MariaDB) answers across the network, and the event loop
must not wait for a round trip: there each read runs in the thread pool on a pooled
connection. bench/api_load.py measures the difference.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

P = ParamSpec("P")
T = TypeVar("T")


class Reader:
    def __init__(self, engine: Engine):
        self._engine = engine
        self.inline = engine.dialect.name == "sqlite"
        self._kept: Connection | None = None
        self._kept_lock = threading.Lock()

    async def __call__(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args,
                       **kwargs: P.kwargs) -> T:
        if not self.inline:
            return await run_in_threadpool(self._pooled, fn, *args, **kwargs)
        # one event loop runs one read at a time, so the kept connection is free unless
        # another thread (another loop, e.g. a test client's) holds it: that one does not
        # wait, it takes a connection from the pool
        if not self._kept_lock.acquire(blocking=False):
            return self._pooled(fn, *args, **kwargs)
        try:
            if self._kept is None:
                self._kept = self._engine.connect()
            try:
                return fn(self._kept, *args, **kwargs)
            finally:
                self._kept.rollback()  # a broken connection is replaced on its next use
        finally:
            self._kept_lock.release()

    def _pooled(self, fn: Callable[Concatenate[Connection, P], T], *args: P.args,
                **kwargs: P.kwargs) -> T:
        with self._engine.connect() as conn:
            return fn(conn, *args, **kwargs)

    def close(self) -> None:
        with self._kept_lock:
            if self._kept is not None:
                self._kept.close()
                self._kept = None
