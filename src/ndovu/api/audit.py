"""Who asked for what: the audit log, and the caller of the request being served.

``Audit`` is pure ASGI middleware: every request under /v1 or /serengeti that asks for a
change (any method but GET and HEAD), whatever its answer, adds one row to
``audit_events`` once it has been answered: the user (None when no credential was
accepted), the peer's address, the method, the path and the status. Never a body, a
header or a query string, so never a password or a token. Rows are never changed or
deleted by ndovu; administrators read them at ``GET /v1/audit``.

``caller`` is the user the request authenticated as (set by ``ndovu.api.auth``), for the
commands that record who asked (``Operation.requested_by``).
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ndovu.store.db import Store
from ndovu.store.models import AuditEvent

log = logging.getLogger("ndovu.api")

caller: ContextVar[str | None] = ContextVar("ndovu_caller", default=None)

AUDITED_PREFIXES = ("/v1/", "/serengeti/")
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class Audit:
    def __init__(self, app: ASGIApp, store: Store):
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope["method"] in READS
                or not scope["path"].startswith(AUDITED_PREFIXES)):
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets when the app raised before answering

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, answered)
        finally:
            principal = scope.get("state", {}).get("principal")
            client = scope.get("client")
            await run_in_threadpool(self._record, {
                "user_name": getattr(principal, "name", None),
                "address": client[0] if client else "unknown",
                "method": scope["method"], "path": scope["path"][:400], "status": status})

    def _record(self, row: dict[str, Any]) -> None:
        try:
            with self.store.session() as s:
                s.add(AuditEvent(**row))
        except Exception:  # the answer is sent; a lost audit row must be seen in the log
            log.exception("cannot record the audit event %s %s (%s)", row["method"],
                          row["path"], row["status"])
