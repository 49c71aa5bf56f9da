"""The Kafka broker role (``kafka_node``): Apache Kafka 0.8 from the depot, registered in
the cluster's own ZooKeeper ensemble.

The distro names a depot tarball holding ``libs/*.jar`` (the broker and its Scala
runtime; ``scripts/build-distros.sh`` builds Kafka 0.8.1.1's from PyPI pyleus 0.3.0, and
Apache's kafka_2.9.2-0.8.1.1.tgz has the same layout) and Debian's log4j 1.2, its slf4j
binding and a JRE. The broker runs ``kafka.Kafka`` in the foreground, logging to its
console (the transport's service log).

- ``broker.id`` is the node's position among the cluster's brokers, from 1: a resize
  adds brokers at the end and removes them from the end, so a broker keeps its id.
- Brokers register at the ensemble's root: Kafka 0.8.1 does not create a chroot path
  (KAFKA-404), and a Kafka cluster brings its own ensemble.
- ``log.dirs`` is ``data/kafka-logs`` in the node; ``host.name`` binds the broker to the
  node's address and advertises it.
- Health: the broker answers a Kafka Metadata request (``kafka_protocol``).
- Stop: brokers stop before ZooKeeper (the engine stops roles in the reverse of their
  start order): a broker whose ZooKeeper has gone hangs on SIGTERM. Brokers stop one at
  a time, the highest id first, each handing its partitions' leadership to the brokers
  still running (controlled shutdown): the last one stopped ends in sync for everything.
- Start: Kafka 0.8 always elects a live replica when a partition's in-sync replicas are
  all down (no ``unclean.leader.election.enable`` before 0.8.2), and the others then drop
  what that replica lacks. So a broker whose replicas are stale waits to start until an
  in-sync replica of those partitions is up (``kafka_state``), and says which it waits for.
- Scale-in moves no partition silently: Kafka 0.8 never moves replicas by itself, so a
  leaving broker that leads a partition or holds one of its replicas is refused, naming
  the partitions, until they are reassigned (``kafka-reassign-partitions``). The
  assignment is read from ZooKeeper, which knows it while brokers are down.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping

from ndovu.errors import NodeBootstrapError
from ndovu.roles import kafka_protocol
from ndovu.roles.base import Health, Member, RoleContext, Setting
from ndovu.roles.kafka_state import ClusterState, KafkaZooKeeper, PartitionState
from ndovu.roles.service import ServiceRole
from ndovu.roles.zookeeper import CLIENT_PORT as ZOOKEEPER_PORT

SERVICE = "kafka"
PORT = 9092
MAIN_CLASS = "kafka.Kafka"
PROPERTIES = "conf/server.properties"
LOG4J = "conf/log4j.properties"
# Debian's log4j 1.2 and its slf4j binding, on the node (liblog4j1.2-java, libslf4j-java)
LOGGING_JARS = ("/usr/share/java/log4j-1.2.jar", "/usr/share/java/slf4j-log4j12.jar")
# how long a broker with stale replicas waits for an in-sync one to come up, and a
# stopping broker for the brokers with higher ids to be gone
IN_SYNC_WAIT_S = 120.0
STOP_ORDER_WAIT_S = 60.0
POLL_S = 0.5

SETTINGS = {s.name: s for s in (
    Setting("heap", "size", "the broker JVM's heap (-Xmx)", "256m"),
    Setting("num.partitions", "int", "partitions of a topic created without saying how many",
            1, minimum=1),
    Setting("default.replication.factor", "int", "replicas of a topic created "
            "automatically (at most the number of brokers)", 1, minimum=1),
    Setting("auto.create.topics.enable", "bool", "create a topic when a client first "
            "uses it", True),
    Setting("log.retention.hours", "int", "hours a message is kept", 168, minimum=1),
    Setting("message.max.bytes", "int", "the largest message a broker accepts, in bytes",
            1000000, minimum=1024),
)}

LOG4J_PROPERTIES = """\
# written by ndovu: the console, which the node's service log keeps
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
# 0.8.1's replica fetcher reconnects to a dead leader with no back-off (KAFKA-1461):
# thousands of identical stack traces a second
log4j.logger.kafka.consumer.SimpleConsumer=ERROR
"""


def _format(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


class KafkaRole(ServiceRole):
    name = "kafka_node"
    # a fresh broker with the same id copies its replicas from the leaders
    replaceable = True
    summary = "an Apache Kafka 0.8 broker (a Kafka distribution from the depot)"
    service = SERVICE
    requires = frozenset({"zookeeper"})
    config_section = "kafka"
    settings = SETTINGS
    packages = ("default-jre-headless", "liblog4j1.2-java", "libslf4j-java")
    required_files = LOGGING_JARS
    required_programs = ("java",)
    probe_ports = (PORT,)
    # a controlled shutdown hands leadership over before the broker exits
    stop_timeout_s = 45.0

    def broker_id(self, ctx: RoleContext) -> int:
        for position, member in enumerate(self._members(ctx), start=1):
            if member.name == ctx.node.name:
                return position
        raise NodeBootstrapError(
            f"node {ctx.node.name} is not among the kafka_node members of cluster "
            f"{ctx.cluster}", node=ctx.node.name, role=self.name)

    def _zookeeper_connect(self, ctx: RoleContext) -> str:
        ensemble = ctx.members.get("zookeeper", ())
        if not ensemble:
            raise NodeBootstrapError(
                f"cluster {ctx.cluster} has no zookeeper node for broker {ctx.node.name}",
                node=ctx.node.name, role=self.name)
        return ",".join(f"{m.address}:{ZOOKEEPER_PORT}" for m in ensemble)

    def render_properties(self, ctx: RoleContext) -> str:
        values = self._settings(ctx)
        props = {key: _format(value) for key, value in values.items() if key != "heap"}
        props.update({
            "broker.id": str(self.broker_id(ctx)),
            "host.name": ctx.node.address,
            "port": str(PORT),
            "log.dirs": ctx.transport.path("data/kafka-logs"),
            "zookeeper.connect": self._zookeeper_connect(ctx),
            "controlled.shutdown.enable": "true",
            # the last broker to stop cannot hand over (nobody is left): a failed attempt
            # is retried once after 1 s, not three times after 5 s each
            "controlled.shutdown.max.retries": "2",
            "controlled.shutdown.retry.backoff.ms": "1000",
        })
        return "# written by ndovu\n" + "".join(f"{k}={v}\n" for k, v in props.items())

    def configure(self, ctx: RoleContext) -> None:
        ctx.transport.write_file(PROPERTIES, self.render_properties(ctx))
        ctx.transport.write_file(LOG4J, LOG4J_PROPERTIES)

    def command(self, ctx: RoleContext) -> list[str]:
        transport = ctx.transport
        classpath = ":".join([f"{self.software_home(ctx)}/libs/*", *LOGGING_JARS])
        return ["java", f"-Xmx{self._settings(ctx)['heap']}",
                f"-Dlog4j.configuration=file:{transport.path(LOG4J)}",
                "-cp", classpath, MAIN_CLASS, transport.path(PROPERTIES)]

    def ready_to_start(self, ctx: RoleContext) -> None:
        if ctx.transport.read_file(PROPERTIES) is None:
            raise NodeBootstrapError(
                f"kafka_node on {ctx.node.name} is not configured yet (no {PROPERTIES})",
                node=ctx.node.name, role=self.name, retryable=True)

    def admit(self, ctx: RoleContext, argv: list[str]) -> list[str]:
        """Wait until no partition would get this broker as a leader without its
        latest messages (an in-sync replica of each of its stale ones is up)."""
        broker = self.broker_id(ctx)
        deadline = time.monotonic() + IN_SYNC_WAIT_S
        stale: list[PartitionState] = []
        problem = ""
        while time.monotonic() < deadline:
            try:
                with KafkaZooKeeper(self._zookeeper_connect(ctx)) as zookeeper:
                    while time.monotonic() < deadline:
                        stale = zookeeper.state().start_blockers(broker)
                        if not stale:
                            return argv
                        time.sleep(POLL_S)
            except OSError as exc:
                problem = f" ({exc})"
                time.sleep(POLL_S)
        if not stale:
            raise NodeBootstrapError(
                f"kafka_node on {ctx.node.name} cannot tell whether its replicas are in "
                f"sync: the cluster's ZooKeeper did not answer{problem}",
                node=ctx.node.name, role=self.name, retryable=True)
        waited_for = sorted({r for p in stale for r in p.in_sync})
        raise NodeBootstrapError(
            f"broker {broker} on {ctx.node.name} holds out-of-date replicas of "
            f"{_named(stale)}, whose in-sync replicas (broker "
            f"{', '.join(map(str, waited_for))}) are down; started now, Kafka 0.8 would "
            "make it their leader and the messages only those brokers have would be lost. "
            "Bring those brokers' nodes back and start the cluster again",
            node=ctx.node.name, role=self.name)

    def stop(self, ctx: RoleContext) -> None:
        """Stop once the brokers with higher ids are gone (or after STOP_ORDER_WAIT_S):
        one controlled shutdown at a time hands leadership to a running broker."""
        broker = self.broker_id(ctx)
        deadline = time.monotonic() + STOP_ORDER_WAIT_S
        with (contextlib.suppress(OSError),
              KafkaZooKeeper(self._zookeeper_connect(ctx)) as zookeeper):
            while (time.monotonic() < deadline
                   and any(b > broker for b in zookeeper.state().live)):
                time.sleep(POLL_S)
        super().stop(ctx)

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        address = ctx.node.address
        try:
            kafka_protocol.metadata(address, PORT)
        except (OSError, ValueError) as exc:
            return Health(False, f"broker not answering on {address}:{PORT} yet: {exc}")
        return Health(True, f"broker {self.broker_id(ctx)} serving on {address}:{PORT}")

    def decommission(self, ctx: RoleContext) -> None:
        """Refuse to take away a broker that leads a partition or holds a replica of one
        (the assignment in ZooKeeper, which knows it while brokers are down)."""
        if not [m for m in self._members(ctx) if m.name != ctx.node.name]:
            return  # the last broker: the cluster goes with it
        # a leaving node is no longer among the members: the id it ran with
        rendered = ctx.transport.read_file(PROPERTIES) or ""
        ids = [line.partition("=")[2] for line in rendered.splitlines()
               if line.startswith("broker.id=")]
        if not ids or not ids[-1].isdigit():
            return  # never configured, so never registered: it holds nothing
        broker = int(ids[-1])
        try:
            with KafkaZooKeeper(self._zookeeper_connect(ctx)) as zookeeper:
                state: ClusterState = zookeeper.state()
        except OSError as exc:
            raise NodeBootstrapError(
                f"cannot tell whether broker {broker} on {ctx.node.name} holds partitions: "
                f"{exc}", node=ctx.node.name, role=self.name, retryable=True) from None
        held = state.held_by(broker)
        if held:
            raise NodeBootstrapError(
                f"broker {ctx.node.name} ({ctx.node.address}) holds replicas of "
                f"{_named(held)}; Kafka 0.8 does not move them by itself, so removing the "
                "broker would lose them: move them to the brokers that stay with "
                "kafka-reassign-partitions, then resize again",
                node=ctx.node.name, role=self.name)

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        brokers = members.get(self.name, ())
        if not brokers:
            return {}
        return {"kafka": ",".join(f"{m.address}:{PORT}" for m in brokers)}


def _named(partitions: list[PartitionState], limit: int = 10) -> str:
    names = sorted(p.name for p in partitions)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
