"""The ZooKeeper role: one ensemble member per node, from Debian's ZooKeeper packages.

The node's package manager installs the software (``libzookeeper-java`` and a headless
JRE unless the distro manifest names others), and the member runs from the jars Debian
keeps in /usr/share/java on the node. Every listener binds the node's own address (client
port, quorum and election ports; the admin server is off because it would bind
0.0.0.0:8080 on every member), so several members run on one machine. Logs go to
logs/zookeeper.log in the node, where the transport also appends the JVM's own output
(both append, so nothing is overwritten).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from pathlib import PurePosixPath

from ndovu.errors import NodeBootstrapError
from ndovu.roles.base import Health, Member, RoleContext, Setting
from ndovu.roles.service import ServiceRole

SERVICE = "zookeeper"
CLIENT_PORT = 2181
QUORUM_PORT = 2888
ELECTION_PORT = 3888

# paths on the node, where Debian's packages put the jars
JAVA_DIR = PurePosixPath("/usr/share/java")
ZOOKEEPER_JAR = JAVA_DIR / "zookeeper.jar"
# zookeeper.jar's manifest Class-Path names its other dependencies (jute, slf4j-api,
# netty, metrics, commons-cli, jetty, ...) by their Debian paths; only the logging
# binding is ours to add, or slf4j falls back to a no-op logger and we lose every line
LOGGING_JARS = (JAVA_DIR / "slf4j-log4j12.jar", JAVA_DIR / "log4j-1.2.jar")
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"

# zoo.cfg settings a cluster's configuration may set (section "zookeeper"); everything
# else in zoo.cfg is ndovu's wiring
SETTINGS = {s.name: s for s in (
    Setting("tickTime", "int", "the basic time unit in milliseconds", 2000, minimum=1),
    Setting("initLimit", "int", "ticks a follower may take to connect and sync to the "
            "leader", 10, minimum=1),
    Setting("syncLimit", "int", "ticks a follower may lag behind the leader", 5, minimum=1),
    Setting("maxClientCnxns", "int", "concurrent connections from one client address "
            "(0: unlimited)", minimum=0),
    Setting("minSessionTimeout", "int", "the shortest client session timeout the server "
            "grants, in milliseconds (default 2 ticks)", minimum=1),
    Setting("maxSessionTimeout", "int", "the longest client session timeout the server "
            "grants, in milliseconds (default 20 ticks); lower it for faster failover of "
            "clients that hold ephemeral nodes, such as Spark masters", minimum=1),
    Setting("autopurge.snapRetainCount", "int", "snapshots kept by autopurge", minimum=3),
    Setting("autopurge.purgeInterval", "int", "hours between autopurge runs (0: off)",
            minimum=0),
)}

LOG4J_PROPERTIES = """\
# written by ndovu: one plain file, appended to (the JVM's own output goes there too)
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File=${zookeeper.log.dir}/zookeeper.log
log4j.appender.FILE.Append=true
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} - %-5p [%t:%C{1}@%L] - %m%n
"""

_MODE = re.compile(r"^Mode:\s*(\S+)", re.MULTILINE)
_NOT_SERVING = "This ZooKeeper instance is not currently serving requests"


def _ask(address: str, command: bytes, timeout: float = 2.0) -> str:
    """Send a four-letter word and read the answer until the server closes."""
    with socket.create_connection((address, CLIENT_PORT), timeout=timeout) as sock:
        sock.sendall(command)
        chunks = []
        while sum(len(c) for c in chunks) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


class ZooKeeperRole(ServiceRole):
    name = "zookeeper"
    # a fresh member with the same myid syncs the data from the leader
    replaceable = True
    summary = "an Apache ZooKeeper ensemble member (Debian's ZooKeeper packages)"
    service = SERVICE
    provides = frozenset({"zookeeper"})
    config_section = "zookeeper"
    settings = SETTINGS
    packages = ("libzookeeper-java", "default-jre-headless")
    required_files = (str(ZOOKEEPER_JAR), *map(str, LOGGING_JARS))
    required_programs = ("java",)
    probe_ports = (CLIENT_PORT,)

    # -- configuration ------------------------------------------------------------

    def _my_id(self, ctx: RoleContext) -> int:
        for position, member in enumerate(self._members(ctx), start=1):
            if member.name == ctx.node.name:
                return position
        raise NodeBootstrapError(
            f"node {ctx.node.name} is not among the zookeeper members of cluster "
            f"{ctx.cluster}", node=ctx.node.name, role=self.name)

    def render_config(self, ctx: RoleContext) -> str:
        members = self._members(ctx)
        self._my_id(ctx)
        transport = ctx.transport
        lines = [f"{key}={value}" for key, value in self._settings(ctx).items()]
        lines += [
            f"dataDir={transport.path('data')}",
            f"clientPort={CLIENT_PORT}",
            f"clientPortAddress={ctx.node.address}",
            # members share one machine: bind each listener to the member's own address
            "quorumListenOnAllIPs=false",
            "admin.enableServer=false",
            "4lw.commands.whitelist=srvr,stat,ruok,mntr",
        ]
        if len(members) > 1:
            lines.append("standaloneEnabled=false")
        lines += [f"server.{k}={m.address}:{QUORUM_PORT}:{ELECTION_PORT}"
                  for k, m in enumerate(members, start=1)]
        return "# written by ndovu\n" + "\n".join(lines) + "\n"

    def configure(self, ctx: RoleContext) -> None:
        config = self.render_config(ctx)
        transport = ctx.transport
        transport.write_file("conf/zoo.cfg", config)
        transport.write_file("conf/log4j.properties", LOG4J_PROPERTIES)
        transport.write_file("data/myid", f"{self._my_id(ctx)}\n")

    # -- lifecycle ----------------------------------------------------------------

    def command(self, ctx: RoleContext) -> list[str]:
        transport = ctx.transport
        conf_dir = transport.path("conf")
        classpath = ":".join([conf_dir, str(ZOOKEEPER_JAR), *map(str, LOGGING_JARS)])
        # java from the node's PATH: the JRE its package manager installed
        return ["java", "-Xmx256m", f"-Dzookeeper.log.dir={transport.path('logs')}",
                "-cp", classpath, MAIN_CLASS, transport.path("conf/zoo.cfg")]

    def ready_to_start(self, ctx: RoleContext) -> None:
        if ctx.transport.read_file("conf/zoo.cfg") is None:
            raise NodeBootstrapError(
                f"zookeeper on {ctx.node.name} is not configured yet (no conf/zoo.cfg)",
                node=ctx.node.name, role=self.name, retryable=True)

    def listen_ports(self, ctx: RoleContext) -> list[int]:
        ports = [CLIENT_PORT]
        if len(self._members(ctx)) > 1:
            ports += [QUORUM_PORT, ELECTION_PORT]
        return ports

    # the ensemble's size is fixed by its spec ([3,3,3]): a member never leaves alone, so
    # decommission is the base's no-op

    def health(self, ctx: RoleContext) -> Health:
        exited = self.exited(ctx)
        if exited is not None:
            return exited
        address = ctx.node.address
        try:
            answer = _ask(address, b"srvr")
        except ConnectionRefusedError:
            return Health(False, f"connection refused on {address}:{CLIENT_PORT}")
        except TimeoutError:
            return Health(False, f"no answer from {address}:{CLIENT_PORT} within 2 s")
        except OSError as exc:
            return Health(False, f"cannot reach {address}:{CLIENT_PORT}: {exc}")
        if _NOT_SERVING in answer:
            return Health(False, _NOT_SERVING)
        mode = _MODE.search(answer)
        if mode is None:
            return Health(False, f"unexpected srvr answer from {address}:{CLIENT_PORT}: "
                                 f"{answer.strip()[:200]!r}")
        return Health(True, f"Mode: {mode.group(1)}")

    def endpoints(self, cluster: str,
                  members: Mapping[str, tuple[Member, ...]]) -> dict[str, str]:
        nodes = members.get(self.name, ())
        if not nodes:
            return {}
        return {"zookeeper": ",".join(f"{m.address}:{CLIENT_PORT}" for m in nodes)}
