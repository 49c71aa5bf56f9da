"""Crash injection for recovery tests, in the manner of etcd's failpoints.

``NDOVU_CRASH_AFTER="STEP[:OUTCOME][@N]"`` makes the engine's process kill itself with
SIGKILL right after the transaction that records the N-th (default: first) event whose
step is STEP (and whose outcome is OUTCOME, when given) commits: e.g. ``provision:ok@2``
dies just after the second node is recorded as provisioned. The crash falls exactly
between two steps, chosen by what the engine did rather than by a timer. Unset (the
normal case), nothing is installed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

from ndovu.errors import NdovuError
from ndovu.store.models import Event

ENV = "NDOVU_CRASH_AFTER"
log = logging.getLogger("ndovu.engine")


@dataclass(frozen=True)
class CrashPoint:
    step: str
    outcome: str | None
    nth: int

    @classmethod
    def parse(cls, text: str) -> CrashPoint:
        point, _, count = text.partition("@")
        step, _, outcome = point.partition(":")
        try:
            nth = int(count) if count else 1
        except ValueError:
            nth = 0
        if not step or nth < 1:
            raise NdovuError(f"{ENV}={text!r} is not STEP[:OUTCOME][@N]",
                             hint="e.g. NDOVU_CRASH_AFTER='provision:ok@2'")
        return cls(step, outcome or None, nth)

    def matches(self, item: Event) -> bool:
        return item.step == self.step and self.outcome in (None, item.outcome)


_installed = False


def install_from_environment() -> None:
    """Arm the crash point named by NDOVU_CRASH_AFTER, if any (once per process)."""
    global _installed
    text = os.environ.get(ENV, "")
    if not text or _installed:
        return
    point = CrashPoint.parse(text)
    seen = 0
    lock = threading.Lock()

    @event.listens_for(Session, "before_flush")
    def _count(session: Session, _context: object, _instances: object) -> None:
        nonlocal seen
        with lock:
            for item in session.new:
                if isinstance(item, Event) and point.matches(item):
                    seen += 1
                    if seen == point.nth:
                        session.info["crash"] = True

    @event.listens_for(Session, "after_commit")
    def _crash(session: Session) -> None:
        if session.info.get("crash"):
            log.warning("%s=%s reached: killing this process", ENV, text)
            os.kill(os.getpid(), signal.SIGKILL)

    _installed = True
    log.warning("crash injection armed: this process dies after event %s", text)
