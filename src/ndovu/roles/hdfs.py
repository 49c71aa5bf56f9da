"""The HDFS roles (``hadoop_namenode``, ``hadoop_datanode``): Apache Hadoop 2.7's HDFS from
the depot, one NameNode and its DataNodes per cluster.

The distro names a depot tarball holding ``jars/*.jar`` (Hadoop 2.7.3's common and hdfs
jars and the libraries they load, ``jars/ndovu-hadoop-net.jar``, and the empty
``extra/webapps/{hdfs,datanode,secondary}`` folders the daemons' web servers insist on;
``scripts/build-distros.sh`` builds it from PyPI pyspark 2.4.8's jars) and Debian's
Jersey 1 (WebHDFS) and a JRE. Each daemon runs in the foreground, logging to its console
(the transport's service log), with ``core-site.xml``, ``hdfs-site.xml`` and
``log4j.properties`` in the node's ``conf`` folder, first on its classpath. Every node
of the cluster writes the same files whatever its HDFS roles, so a NameNode and a
DataNode may share a node.

- The NameNode's storage is formatted once, before its first start (``-format``), never
  again: a node whose ``data/name/current/VERSION`` exists starts on it.
- Every listener binds the node's address. A DataNode registers under it
  (``dfs.datanode.hostname``; clients and DataNodes connect by that name), and its RPC
  to the NameNode leaves from it (``ndovu-hadoop-net.jar``'s socket factory): the
  NameNode tells DataNodes apart by that source address, which on one machine would
  otherwise be 127.0.0.1 for all, each registration replacing the last.
- Health comes from the NameNode's HTTP JMX (``hdfs_jmx``), not from the HDFS shell (a
  JVM each): the NameNode is active and its RPC port open; a DataNode is live in the
  NameNode's list and the NameNode is out of safe mode (its blocks are all reported).
- Scale-in decommissions a DataNode before its node goes: its address is added to the
  NameNode's excludes file (``conf/dfs.exclude`` in the NameNode's node, written
  through the NameNode node's transport), ``dfsadmin -refreshNodes`` runs there, and the
  DataNode is waited for until the NameNode calls it Decommissioned (every block it
  holds has its replicas elsewhere). Removing DataNodes below ``dfs.replication`` is
  refused. A DataNode that starts with its address in the excludes file (a resize reused
  the address of a removed one) takes it out first.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from xml.sax.saxutils import escape

from ndovu.errors import NodeBootstrapError
from ndovu.roles import hdfs_jmx, software
from ndovu.roles.base import (
    Health,
    Member,
    RoleContext,
    Setting,
    failure_excerpt,
    listening,
)
from ndovu.roles.service import ServiceRole
from ndovu.transports.base import Transport

NAMENODE_ROLE, DATANODE_ROLE = "hadoop_namenode", "hadoop_datanode"
RPC_PORT = 8020
HTTP_PORT = 50070
DATA_PORT = 50010
DATANODE_HTTP_PORT = 50075
DATANODE_IPC_PORT = 50020
NAMENODE_CLASS = "org.apache.hadoop.hdfs.server.namenode.NameNode"
DATANODE_CLASS = "org.apache.hadoop.hdfs.server.datanode.DataNode"
DFSADMIN_CLASS = "org.apache.hadoop.hdfs.tools.DFSAdmin"
FSSHELL_CLASS = "org.apache.hadoop.fs.FsShell"
CONF = "conf"
CORE_SITE = f"{CONF}/core-site.xml"
HDFS_SITE = f"{CONF}/hdfs-site.xml"
LOG4J = f"{CONF}/log4j.properties"
EXCLUDES = f"{CONF}/dfs.exclude"
NAME_DIR = "data/name"
DATA_DIR = "data/data"
# Debian's Jersey 1 (libjersey1-*-java), which the NameNode's WebHDFS runs on
JERSEY_JARS = tuple(f"/usr/share/java/jersey1-{part}.jar" for part in ("core", "server",
                                                                         "servlet"))
SOCKET_FACTORY = "org.ndovu.hadoop.BindingSocketFactory"
SOCKET_FACTORY_JAR = "jars/ndovu-hadoop-net.jar"
CLIENT_HEAP = "128m"

FORMAT_TIMEOUT_S = 120.0
REFRESH_TIMEOUT_S = 120.0
PROBE_TIMEOUT_S = 3.0
# a decommission waits for the DataNode's blocks to be copied: minutes for gigabytes
DECOMMISSION_TIMEOUT_S = 3600.0
DECOMMISSION_POLL_S = 1.0
MIN_BLOCK_SIZE = 1 << 20  # the NameNode's dfs.namenode.fs-limits.min-block-size

# Hadoop 2.7 reaches into the JDK's internals, which Java 17 closes
JAVA_OPENS = tuple(f"--add-opens=java.base/{package}=ALL-UNNAMED" for package in (
    "java.lang", "java.nio", "sun.nio.ch", "java.util", "java.io", "java.net",
    "java.lang.reflect", "java.util.concurrent", "jdk.internal.misc", "java.lang.ref"))

SETTINGS = {s.name: s for s in (
    Setting("heap", "size", "the NameNode's and each DataNode's JVM heap (-Xmx)", "256m"),
    Setting("dfs.replication", "int", "replicas of each block of a file written without "
            "saying how many; the DataNodes can never be fewer", 3, minimum=1),
    Setting("dfs.blocksize", "size", "the block size of new files (at least 1m)", "128m"),
    Setting("dfs.namenode.handler.count", "int", "threads serving the NameNode's RPC", 10,
            minimum=1),
    Setting("dfs.datanode.handler.count", "int", "threads serving each DataNode's RPC", 10,
            minimum=1),
    Setting("dfs.permissions.enabled", "bool", "check HDFS file permissions", True),
    Setting("dfs.heartbeat.interval", "int", "seconds between two heartbeats of a "
            "DataNode to the NameNode", 3, minimum=1),
    # Hadoop's 30 s suit clusters of thousands of DataNodes; a check of a few is cheap,
    # and a decommission ends only at a check
    Setting("dfs.namenode.decommission.interval", "int", "seconds between two checks of "
            "whether decommissioning DataNodes are done (Hadoop's default: 30)", 5,
            minimum=1),
    # Hadoop's 30 s wait for stragglers after enough blocks are reported; an ndovu
    # cluster's DataNodes all start together, right after the NameNode, and a late one
    # reports within a heartbeat
    Setting("dfs.namenode.safemode.extension", "int", "milliseconds the NameNode stays in "
            "safe mode once enough blocks are reported (Hadoop's default: 30000)", 3000,
            minimum=0),
)}
# settings that are not hdfs-site.xml keys
JVM_SETTINGS = frozenset({"heap"})

# stderr, as Hadoop's own: the daemons' service log keeps it, and the output of the HDFS
# shell run with this conf folder (-cat) stays the file's bytes alone
LOG4J_PROPERTIES = """\
# written by ndovu: the console's stderr, which the node's service log keeps
log4j.rootLogger=INFO, console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1} %m%n
"""


def classpath(home: str, conf: str | None = None) -> str:
    """The daemons' and the HDFS shell's classpath: the node's conf folder first."""
    return ":".join([*([conf] if conf else []), f"{home}/extra", f"{home}/jars/*",
                     *JERSEY_JARS])


def java_argv(home: str, main_class: str, *args: str, heap: str, conf: str | None = None,
              log4j: str | None = None, client: bool = False) -> list[str]:
    """A JVM running ``main_class`` of the Hadoop at ``home``: a daemon, or a ``client``
    such as FsShell or DFSAdmin (``conf`` names the cluster)."""
    # a client runs for a second or two: the quick compiler and the small collector
    # start it in half the time
    quick = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"] if client else []
    return ["java", f"-Xmx{heap}", *quick, *JAVA_OPENS, "-Djava.net.preferIPv4Stack=true",
            *([f"-Dlog4j.configuration=file:{log4j}"] if log4j else []),
            "-cp", classpath(home, conf), main_class, *args]


def size_bytes(size: str) -> int:
    """A size as Setting "size" writes it ("128m") in bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if size[-1:] in units:
        return int(size[:-1]) * units[size[-1]]
    return int(size)


def site_xml(properties: Mapping[str, str]) -> str:
    rows = "".join(f"  <property><name>{escape(k)}</name><value>{escape(v)}</value>"
                   "</property>\n" for k, v in properties.items())
    return f'<?xml version="1.0"?>\n<!-- written by ndovu -->\n<configuration>\n{rows}' \
           "</configuration>\n"


def _format(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def scale_in_refusal(node: str, staying: int, replication: int) -> str | None:
    """Why ``node`` may not leave when ``staying`` DataNodes would remain, or None."""
    if staying >= replication:
        return None
    return (f"removing DataNode {node} would leave {staying} DataNode"
            f"{'' if staying == 1 else 's'}, fewer than hdfs.dfs.replication "
            f"({replication}): its blocks could not keep their replicas, and HDFS would "
            "never finish decommissioning it; keep at least "
            f"{replication} DataNodes, or lower dfs.replication first")


class _HdfsDaemon(ServiceRole):
    """What the NameNode and DataNodes share: the configuration files and the JVM."""

    main_class: str
    config_section = "hdfs"
    settings = SETTINGS
    packages = ("default-jre-headless", "libjersey1-core-java", "libjersey1-server-java",
                "libjersey1-servlet-java")
    required_files = (*JERSEY_JARS, SOCKET_FACTORY_JAR)
    required_programs = ("java",)

    def namenode(self, ctx: RoleContext) -> Member:
        namenodes = ctx.members.get(NAMENODE_ROLE, ())
        if len(namenodes) != 1:
            raise NodeBootstrapError(
                f"cluster {ctx.cluster} has {len(namenodes)} hadoop_namenode nodes; HDFS "
                "runs with exactly one here (no NameNode HA)", node=ctx.node.name,
                role=self.name)
        return namenodes[0]

    def _checked_settings(self, ctx: RoleContext) -> dict[str, object]:
        values = self._settings(ctx)
        blocksize = size_bytes(str(values["dfs.blocksize"]))
        if blocksize < MIN_BLOCK_SIZE or blocksize % 512:
            raise NodeBootstrapError(
                f"hdfs.dfs.blocksize {values['dfs.blocksize']} must be at least 1m and a "
                "multiple of 512 bytes", node=ctx.node.name, role=self.name)
        return values

    def core_site(self, ctx: RoleContext) -> dict[str, str]:
        return {
            "fs.defaultFS": f"hdfs://{self.namenode(ctx).address}:{RPC_PORT}",
            "hadoop.tmp.dir": ctx.transport.path("tmp"),
            # RPC leaves from the node's address (see the module's docstring)
            "hadoop.rpc.socket.factory.class.default": SOCKET_FACTORY,
            "ndovu.rpc.bind.address": ctx.node.address,
        }

    def hdfs_site(self, ctx: RoleContext) -> dict[str, str]:
        values = self._checked_settings(ctx)
        path = ctx.transport.path
        namenode, address = self.namenode(ctx).address, ctx.node.address
        props = {key: _format(value) for key, value in values.items()
                 if key not in JVM_SETTINGS}
        props.update({
            "dfs.namenode.name.dir": f"file://{path(NAME_DIR)}",
            "dfs.datanode.data.dir": f"file://{path(DATA_DIR)}",
            "dfs.namenode.rpc-address": f"{namenode}:{RPC_PORT}",
            "dfs.namenode.http-address": f"{namenode}:{HTTP_PORT}",
            "dfs.hosts.exclude": path(EXCLUDES),
            "dfs.webhdfs.enabled": "true",
            # a DataNode binds, registers and is reached under the node's address
            "dfs.datanode.address": f"{address}:{DATA_PORT}",
            "dfs.datanode.http.address": f"{address}:{DATANODE_HTTP_PORT}",
            "dfs.datanode.ipc.address": f"{address}:{DATANODE_IPC_PORT}",
            "dfs.datanode.hostname": address,
            "dfs.client.use.datanode.hostname": "true",
            "dfs.datanode.use.datanode.hostname": "true",
            # the NameNode would ask DNS for the name of each DataNode's address
            "dfs.namenode.datanode.registration.ip-hostname-check": "false",
        })
        return props

    def configure(self, ctx: RoleContext) -> None:
        transport = ctx.transport
        transport.write_file(CORE_SITE, site_xml(self.core_site(ctx)))
        transport.write_file(HDFS_SITE, site_xml(self.hdfs_site(ctx)))
        transport.write_file(LOG4J, LOG4J_PROPERTIES)

    def ready_to_start(self, ctx: RoleContext) -> None:
        if ctx.transport.read_file(HDFS_SITE) is None:
            raise NodeBootstrapError(
                f"{self.name} on {ctx.node.name} is not configured yet (no {HDFS_SITE})",
                node=ctx.node.name, role=self.name, retryable=True)

    def command(self, ctx: RoleContext) -> list[str]:
        transport = ctx.transport
        return java_argv(self.software_home(ctx), self.main_class,
                         heap=str(self._checked_settings(ctx)["heap"]),
                         conf=transport.path(CONF), log4j=transport.path(LOG4J))


class NameNodeRole(_HdfsDaemon):
    name = NAMENODE_ROLE
    summary = "an Apache Hadoop 2.7 HDFS NameNode (a Hadoop distribution from the depot)"
    service = "namenode"
    main_class = NAMENODE_CLASS
    provides = frozenset({NAMENODE_ROLE})
    probe_ports = (RPC_PORT, HTTP_PORT)

    def configure(self, ctx: RoleContext) -> None:
        super().configure(ctx)
        # the NameNode refuses to start without it; never emptied here: it holds the
        # DataNodes that were decommissioned
        if ctx.transport.read_file(EXCLUDES) is None:
            ctx.transport.write_file(EXCLUDES, "")

    def admit(self, ctx: RoleContext, argv: list[str]) -> list[str]:
        """Format the NameNode's storage before its first start, and only then."""
        transport = ctx.transport
        if transport.run(["test", "-f", transport.path(f"{NAME_DIR}/current/VERSION")],
                         timeout=30).ok:
            return argv
        result = transport.run(
            java_argv(self.software_home(ctx), NAMENODE_CLASS, "-format", "-force",
                      "-nonInteractive", heap=CLIENT_HEAP, conf=transport.path(CONF),
                      log4j=transport.path(LOG4J), client=True), timeout=FORMAT_TIMEOUT_S)
        if not result.ok:
            raise NodeBootstrapError(
                f"formatting the NameNode's storage on {ctx.node.name} failed (exit "
                f"{result.returncode}): {failure_excerpt(result.stderr + result.stdout)}",
                node=ctx.node.name, role=self.name)
        return argv

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        address = ctx.node.address
        try:
            state = hdfs_jmx.namenode_state(address, HTTP_PORT)
        except (OSError, ValueError) as exc:
            return Health(False, f"NameNode not answering on {address}:{HTTP_PORT} yet: "
                                 f"{exc}")
        if state != "active":
            return Health(False, f"NameNode state is {state or 'not known yet'}")
        if not listening(address, RPC_PORT, PROBE_TIMEOUT_S):
            return Health(False, f"NameNode RPC port {address}:{RPC_PORT} not open yet")
        return Health(True, f"NameNode active at hdfs://{address}:{RPC_PORT}")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        namenodes = members.get(self.name, ())
        if not namenodes:
            return {}
        address = namenodes[0].address
        return {"hdfs": f"hdfs://{address}:{RPC_PORT}",
                "webhdfs": f"http://{address}:{HTTP_PORT}/webhdfs/v1"}


class DataNodeRole(_HdfsDaemon):
    name = DATANODE_ROLE
    # the NameNode has the lost blocks copied again from their other replicas
    replaceable = True
    summary = "an Apache Hadoop 2.7 HDFS DataNode"
    service = "datanode"
    main_class = DATANODE_CLASS
    requires = frozenset({NAMENODE_ROLE})
    probe_ports = (DATA_PORT, DATANODE_HTTP_PORT, DATANODE_IPC_PORT)

    # -- the NameNode's excludes file ---------------------------------------------

    def _namenode_transport(self, ctx: RoleContext, namenode: Member) -> Transport:
        if ctx.peer_transport is None:
            raise NodeBootstrapError(
                f"cannot reach the NameNode's node {namenode.name} to change its excludes "
                "file: the engine gave this role no transport to its peers",
                node=ctx.node.name, role=self.name)
        return ctx.peer_transport(namenode)

    def set_excluded(self, ctx: RoleContext, excluded: bool) -> None:
        """Add the node's address to the NameNode's excludes file (or take it out), and
        have the NameNode read the file again (dfsadmin -refreshNodes, run there)."""
        namenode = self.namenode(ctx)
        peer = self._namenode_transport(ctx, namenode)
        listed = (peer.read_file(EXCLUDES) or "").split()
        address = ctx.node.address
        wanted = sorted({*listed, address}) if excluded else [a for a in listed
                                                              if a != address]
        if wanted != listed:
            peer.write_file(EXCLUDES, "".join(f"{a}\n" for a in wanted))
        # dfsadmin from the NameNode node's own copy of the software
        tarballs = (ctx.software.get(NAMENODE_ROLE) or self.node_software(ctx)).tarballs
        home = software.home_of(peer, tarballs[0]) if tarballs else self.software_home(ctx)
        result = peer.run(java_argv(home, DFSADMIN_CLASS, "-refreshNodes", heap=CLIENT_HEAP,
                                    conf=peer.path(CONF), log4j=peer.path(LOG4J),
                                    client=True), timeout=REFRESH_TIMEOUT_S)
        if not result.ok:
            raise NodeBootstrapError(
                f"dfsadmin -refreshNodes on {namenode.name} failed (exit "
                f"{result.returncode}): {failure_excerpt(result.stderr + result.stdout)}",
                node=ctx.node.name, role=self.name, retryable=True)

    def admit(self, ctx: RoleContext, argv: list[str]) -> list[str]:
        """A DataNode whose address the NameNode excludes (a removed DataNode had it)
        is taken out of the excludes file first, or it would be decommissioned."""
        namenode = self.namenode(ctx)
        if ctx.peer_transport is not None:
            excluded = (ctx.peer_transport(namenode).read_file(EXCLUDES) or "").split()
            if ctx.node.address in excluded:
                self.set_excluded(ctx, excluded=False)
        return argv

    # -- health -------------------------------------------------------------------

    def _view(self, ctx: RoleContext, namenode: Member) -> hdfs_jmx.NameNodeView:
        return hdfs_jmx.namenode_view(namenode.address, HTTP_PORT)

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        namenode = self.namenode(ctx)
        try:
            view = self._view(ctx, namenode)
        except (OSError, ValueError) as exc:
            return Health(False, f"the NameNode {namenode.name} ({namenode.address}:"
                                 f"{HTTP_PORT}) does not answer: {exc}")
        mine = view.datanodes.get(ctx.node.address)
        if mine is None or not mine.alive:
            return Health(False, f"not registered with the NameNode {namenode.name} yet")
        if mine.admin_state != hdfs_jmx.IN_SERVICE:
            # it runs and serves reads: a decommission is the engine's own doing
            return Health(True, f"DataNode {mine.admin_state.lower()}")
        if view.safemode:
            return Health(False, f"registered; the NameNode is in safe mode: "
                                 f"{view.safemode}")
        return Health(True, f"DataNode in service, registered with {namenode.name} as "
                            f"{ctx.node.address}")

    # -- scale-in -----------------------------------------------------------------

    def decommission(self, ctx: RoleContext) -> None:
        """Have the NameNode copy the DataNode's blocks to the DataNodes that stay
        (``ctx.members``) before the node goes; refused below dfs.replication."""
        staying = [m for m in self._members(ctx) if m.name != ctx.node.name]
        if not staying:
            return  # the last DataNode: the cluster goes with it
        namenode = self.namenode(ctx)
        try:
            view = self._view(ctx, namenode)
        except (OSError, ValueError) as exc:
            raise NodeBootstrapError(
                f"cannot decommission DataNode {ctx.node.name}: the NameNode "
                f"{namenode.name} does not answer ({exc})", node=ctx.node.name,
                role=self.name, retryable=True) from exc
        mine = view.datanodes.get(ctx.node.address)
        if mine is None or mine.admin_state == hdfs_jmx.DECOMMISSIONED:
            return  # never registered, or decommissioned by an earlier attempt
        refusal = scale_in_refusal(ctx.node.name, len(staying),
                                   int(self._settings(ctx)["dfs.replication"]))
        if refusal is not None:
            raise NodeBootstrapError(refusal, node=ctx.node.name, role=self.name)
        self.set_excluded(ctx, excluded=True)
        self._await_decommissioned(ctx, namenode)

    def _await_decommissioned(self, ctx: RoleContext, namenode: Member) -> None:
        address = ctx.node.address
        deadline = time.monotonic() + DECOMMISSION_TIMEOUT_S
        while True:
            try:
                view = self._view(ctx, namenode)
            except (OSError, ValueError) as exc:
                problem = f"the NameNode does not answer: {exc}"
            else:
                mine = view.datanodes.get(address)
                if mine is None or mine.admin_state == hdfs_jmx.DECOMMISSIONED:
                    return
                problem = (f"{mine.admin_state}, {view.blocks_to_copy.get(address, '?')} "
                           "blocks still waiting for replicas elsewhere")
            if time.monotonic() > deadline:
                raise NodeBootstrapError(
                    f"DataNode {ctx.node.name} is not decommissioned after "
                    f"{DECOMMISSION_TIMEOUT_S:g} s ({problem}); resize again to keep "
                    "waiting", node=ctx.node.name, role=self.name, retryable=True)
            time.sleep(DECOMMISSION_POLL_S)

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        return {}
