"""Provider calls that failed with a retryable error are tried again, with back-off.

A failed call is recorded (an event ``retrying``) and its node's next attempt scheduled;
the reconciler skips the node until then and requeues its pass for that moment, so no
node-pool slot is held while waiting and the other nodes carry on. After
``RetryPolicy.attempts`` tries, or at once for an error not marked retryable, the failure
is final and the reconciler fails the operation (docs/design.md, "Failure policy").

The attempts already made are counted from the operation's events, so a restarted engine,
or another engine taking the cluster over, grants no node more than ``attempts``. When the
next attempt is due is kept in memory only: after a crash a waiting node is tried again at
once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from ndovu.engine import journal
from ndovu.engine.snapshot import Snapshot
from ndovu.errors import NdovuError


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` tries in all, waiting ``first_delay_s`` after the first
    failure and twice as long after each next one, never more than ``max_delay_s``."""

    attempts: int = 4
    first_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failed attempt."""
        return min(self.max_delay_s, self.first_delay_s * 2 ** (failures - 1))


def retryable(exc: BaseException | None) -> bool:
    """Whether trying the provider call again may help: what the error says of itself;
    an OSError (connection refused or reset, a timeout) may; anything else is a bug."""
    if isinstance(exc, NdovuError):
        return exc.retryable
    return isinstance(exc, OSError)


@dataclass
class Retries:
    """When each waiting node's next attempt is due, per (cluster, operation, node, step).
    Shared by the passes of every cluster, hence the lock."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        self._due: dict[tuple[int, int, str, str], float] = {}
        self._lock = threading.Lock()

    def forget_other_operations(self, cluster_id: int, op_id: int | None) -> None:
        """The waits of a cluster's earlier operations are moot (done, failed, superseded)."""
        with self._lock:
            for key in [k for k in self._due if k[0] == cluster_id and k[1] != op_id]:
                del self._due[key]

    def wait(self, snap: Snapshot, node: str, step: str) -> float:
        """Seconds until this node's next attempt at ``step`` is due (0: now)."""
        with self._lock:
            due = self._due.get((snap.cluster_id, snap.op_id, node, step))
        return 0.0 if due is None else max(0.0, due - time.monotonic())

    def failed(self, s: Session, snap: Snapshot, node: str, step: str,
               exc: BaseException | None, text: str, took: float) -> str | None:
        """Record a failed call (``text`` says why): None when it will be tried again,
        else the error that fails the node."""
        key = (snap.cluster_id, snap.op_id, node, step)
        if retryable(exc):
            failures = 1 + journal.count_events(s, snap.op_id, node, step, "retrying")
            if failures < self.policy.attempts:
                delay = self.policy.delay(failures)
                with self._lock:
                    self._due[key] = time.monotonic() + delay
                journal.event(s, snap.op_id, snap.name, step, "retrying", node=node,
                              duration_s=took,
                              message=f"attempt {failures} of {self.policy.attempts} failed: "
                                      f"{text}; trying again in {delay:g} s")
                return None
            text = f"{text} (gave up after {self.policy.attempts} attempts)"
        self.succeeded(snap, node, step)  # nothing more to wait for
        journal.event(s, snap.op_id, snap.name, step, "failed", node=node, duration_s=took,
                      message=text)
        return text

    def later(self, snap: Snapshot, node: str, step: str, after_s: float) -> None:
        """The provider's work on the node is under way: look again in ``after_s``
        (not a failure: nothing is counted or recorded)."""
        with self._lock:
            self._due[(snap.cluster_id, snap.op_id, node, step)] = time.monotonic() + after_s

    def succeeded(self, snap: Snapshot, node: str, step: str) -> None:
        with self._lock:
            self._due.pop((snap.cluster_id, snap.op_id, node, step), None)
