"""What a Kafka 0.8 cluster's ZooKeeper says about it: the brokers registered now, and
each partition's assigned replicas, leader and in-sync replicas.

Kafka keeps these in ZooKeeper, not in any broker, so they are known while brokers are
down (a broker's Metadata answer leaves out replicas on brokers that are down, and may
be stale). Read with kazoo, the ZooKeeper client the field trusts.

The two rules drawn from them guard against Kafka 0.8's unclean leader election (it has
no way to turn it off): a partition whose in-sync replicas are all down gets any live
replica as its leader, and the other replicas then drop the messages that one lacks.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from types import TracebackType

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.retry import KazooRetry

# kazoo says at WARNING level every time a server refuses a connection
logging.getLogger("kazoo.client").setLevel(logging.ERROR)


@dataclass(frozen=True)
class PartitionState:
    topic: str
    id: int
    replicas: tuple[int, ...]
    leader: int  # -1: none
    in_sync: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.id}"


@dataclass(frozen=True)
class ClusterState:
    live: frozenset[int]  # broker ids registered now
    partitions: tuple[PartitionState, ...]

    def held_by(self, broker: int) -> list[PartitionState]:
        """The partitions the broker leads or holds a replica of."""
        return [p for p in self.partitions if broker in p.replicas or p.leader == broker]

    def offline(self) -> list[PartitionState]:
        """The partitions none of whose in-sync replicas is registered."""
        return [p for p in self.partitions
                if p.in_sync and not self.live.intersection(p.in_sync)]

    def stale_on(self, broker: int) -> list[PartitionState]:
        """The partitions the broker would lead without their latest messages if it
        registered now: it holds a replica that is not in sync, and no in-sync replica
        is live, so Kafka 0.8 would elect it."""
        return [p for p in self.offline() if broker in p.replicas and broker not in p.in_sync]

    def start_blockers(self, broker: int) -> list[PartitionState]:
        """The partitions whose in-sync replicas must register before this broker does.

        The in-sync replicas of offline partitions (the holders) go first, in order of
        id, each after the holders with lower ids; the other brokers after every holder
        they would otherwise lead stale. A ring of holders each stale where another is
        in sync has no safe order in Kafka 0.8: the order by id ends every wait."""
        holders = {r for p in self.offline() for r in p.in_sync}
        if broker in holders:
            return [p for p in self.offline() if broker not in p.in_sync
                    and any(r < broker for r in p.in_sync)]
        return self.stale_on(broker)


class KafkaZooKeeper:
    """A connection to the cluster's ensemble for reading :class:`ClusterState`;
    OSError when it cannot be read."""

    def __init__(self, hosts: str, timeout: float = 10.0):
        self.hosts, self.timeout = hosts, timeout
        self._client = KazooClient(hosts=hosts, timeout=timeout,
                                   connection_retry=KazooRetry(max_tries=2))

    def __enter__(self) -> KafkaZooKeeper:
        try:
            self._client.start(timeout=self.timeout)
        except KazooTimeoutError:
            self._client.stop()
            self._client.close()
            raise OSError(f"ZooKeeper {self.hosts} did not answer within "
                          f"{self.timeout:g} s") from None
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._client.stop()
        self._client.close()

    def state(self) -> ClusterState:
        try:
            live = frozenset(int(b) for b in self._children("/brokers/ids"))
            partitions = [
                self._partition(topic, int(pid), replicas)
                for topic in sorted(self._children("/brokers/topics"))
                for pid, replicas in sorted(
                    self._json(f"/brokers/topics/{topic}").get("partitions", {}).items(),
                    key=lambda item: int(item[0]))]
        except (KazooException, KazooTimeoutError, ValueError) as exc:
            raise OSError(f"cannot read Kafka's state in ZooKeeper {self.hosts}: "
                          f"{type(exc).__name__} {exc}") from None
        return ClusterState(live, tuple(partitions))

    def _partition(self, topic: str, pid: int, replicas: list[int]) -> PartitionState:
        state = self._json(f"/brokers/topics/{topic}/partitions/{pid}/state")
        return PartitionState(topic, pid, tuple(int(r) for r in replicas),
                              int(state.get("leader", -1)),
                              tuple(int(r) for r in state.get("isr", ())))

    def _children(self, path: str) -> list[str]:
        try:
            return list(self._client.get_children(path))
        except NoNodeError:  # no broker ever registered, or no topic made yet
            return []

    def _json(self, path: str) -> dict:
        try:
            data, _ = self._client.get(path)
        except NoNodeError:
            return {}
        value = json.loads(data or b"{}")
        if not isinstance(value, dict):
            raise ValueError(f"{path} holds {type(value).__name__}, not an object")
        return value
