"""What an HDFS node is told: its core-site.xml and hdfs-site.xml, its command line, which
settings are refused, how the NameNode's JMX is read, and when a DataNode's scale-in is
refused or excluded on the NameNode (the running cluster is
tests/integration/test_hdfs_cluster.py's)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import pytest

from ndovu.errors import NodeBootstrapError
from ndovu.roles import hdfs_jmx
from ndovu.roles.base import Member, RoleContext
from ndovu.roles.hdfs import DataNodeRole, NameNodeRole, scale_in_refusal, size_bytes
from ndovu.spec.model import RoleSoftware, Tarball
from ndovu.transports.base import CommandResult
from tests.engine_doubles import MemoryTransport

NAMENODE = Member("hd-DataMaster-0", "DataMaster", 0, "127.77.0.1")
DATANODES = tuple(Member(f"hd-DataWorker-{i}", "DataWorker", i, f"127.77.0.{i + 2}")
                  for i in range(3))
TARBALL = Tarball("hadoop/hadoop-2.7.3-ndovu.tgz", "cd" * 32, 1)
HOME = f"/memory-software/hadoop-2.7.3-ndovu-{'cd' * 6}"


class RecordingTransport(MemoryTransport):
    """A MemoryTransport that keeps the commands it was asked to run, and answers
    ``test -f`` from its files."""

    def __init__(self, address: str):
        super().__init__(address)
        self.commands: list[list[str]] = []

    def run(self, argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None) -> CommandResult:
        self.commands.append(list(argv))
        if list(argv[:2]) == ["test", "-f"]:
            found = argv[2].removeprefix("/memory/") in self.files
            return CommandResult(0 if found else 1, "", "")
        return CommandResult(0, "", "")


def context(member: Member, *, datanodes: tuple[Member, ...] = DATANODES,
            namenodes: tuple[Member, ...] = (NAMENODE,),
            peers: dict[str, RecordingTransport] | None = None,
            **settings: object) -> RoleContext:
    peers = peers if peers is not None else {}
    return RoleContext(
        cluster="hd", node=member, transport=RecordingTransport(member.address),
        members={"hadoop_namenode": namenodes, "hadoop_datanode": datanodes},
        configuration={"hdfs": settings},
        software={r: RoleSoftware(tarballs=(TARBALL,))
                  for r in ("hadoop_namenode", "hadoop_datanode")},
        peer_transport=lambda m: peers.setdefault(m.name, RecordingTransport(m.address)))


def properties(xml: str) -> dict[str, str]:
    return dict(re.findall(r"<name>(.*?)</name><value>(.*?)</value>", xml))


def test_a_datanode_binds_registers_and_connects_under_its_own_address() -> None:
    ctx = context(DATANODES[1], **{"dfs.replication": 2, "dfs.blocksize": "1m"})
    DataNodeRole().configure(ctx)
    assert isinstance(ctx.transport, RecordingTransport)
    files = ctx.transport.files
    site = properties(files["conf/hdfs-site.xml"])
    assert {"dfs.datanode.address": "127.77.0.3:50010",
            "dfs.datanode.http.address": "127.77.0.3:50075",
            "dfs.datanode.ipc.address": "127.77.0.3:50020",
            "dfs.datanode.hostname": "127.77.0.3",
            "dfs.client.use.datanode.hostname": "true",
            "dfs.datanode.use.datanode.hostname": "true",
            "dfs.namenode.rpc-address": "127.77.0.1:8020",
            "dfs.namenode.http-address": "127.77.0.1:50070",
            "dfs.datanode.data.dir": "file:///memory/data/data",
            "dfs.hosts.exclude": "/memory/conf/dfs.exclude",
            "dfs.replication": "2", "dfs.blocksize": "1m",
            "dfs.permissions.enabled": "true"}.items() <= site.items()
    assert "heap" not in site  # a JVM flag, not an hdfs-site key
    core = properties(files["conf/core-site.xml"])
    assert core["fs.defaultFS"] == "hdfs://127.77.0.1:8020"
    assert core["hadoop.rpc.socket.factory.class.default"] == (
        "org.ndovu.hadoop.BindingSocketFactory")
    assert core["ndovu.rpc.bind.address"] == "127.77.0.3"
    assert "log4j.appender.console.target=System.err" in files["conf/log4j.properties"]


def test_the_namenode_keeps_its_excludes_file_across_configures() -> None:
    ctx = context(NAMENODE)
    role = NameNodeRole()
    role.configure(ctx)
    assert ctx.transport.read_file("conf/dfs.exclude") == ""
    ctx.transport.write_file("conf/dfs.exclude", "127.77.0.9\n")
    role.configure(ctx)
    assert ctx.transport.read_file("conf/dfs.exclude") == "127.77.0.9\n"


def test_the_command_line_puts_the_node_conf_first_and_sets_the_heap() -> None:
    argv = NameNodeRole().command(context(NAMENODE, heap="192m"))
    assert argv[:2] == ["java", "-Xmx192m"]
    assert "--add-opens=java.base/java.lang=ALL-UNNAMED" in argv
    assert "-Dlog4j.configuration=file:/memory/conf/log4j.properties" in argv
    assert argv[-3:] == [
        "-cp", f"/memory/conf:{HOME}/extra:{HOME}/jars/*:/usr/share/java/jersey1-core.jar:"
        "/usr/share/java/jersey1-server.jar:/usr/share/java/jersey1-servlet.jar",
        "org.apache.hadoop.hdfs.server.namenode.NameNode"]
    # a DataNode runs without admitting anything when its address is not excluded
    assert DataNodeRole().command(context(DATANODES[0]))[-1] == (
        "org.apache.hadoop.hdfs.server.datanode.DataNode")


def test_the_namenode_is_formatted_before_its_first_start_only() -> None:
    ctx = context(NAMENODE)
    transport = ctx.transport
    assert isinstance(transport, RecordingTransport)
    assert NameNodeRole().admit(ctx, ["java"]) == ["java"]
    check, format_argv = transport.commands
    assert check == ["test", "-f", "/memory/data/name/current/VERSION"]
    assert format_argv[-4:] == ["org.apache.hadoop.hdfs.server.namenode.NameNode", "-format",
                                "-force", "-nonInteractive"]
    # formatted (Hadoop wrote current/VERSION): a restart starts on the namespace it has
    transport.write_file("data/name/current/VERSION", "namespaceID=1\n")
    NameNodeRole().admit(ctx, ["java"])
    assert [c for c in transport.commands if "-format" in c] == [format_argv]


@pytest.mark.parametrize("size", ["512k", "1048577"])
def test_a_block_size_hdfs_refuses_is_refused_before_the_node_starts(size: str) -> None:
    with pytest.raises(NodeBootstrapError, match=r"dfs\.blocksize .* at least 1m"):
        DataNodeRole().configure(context(DATANODES[0], **{"dfs.blocksize": size}))


def test_a_bad_setting_names_its_key() -> None:
    with pytest.raises(NodeBootstrapError, match=r"hdfs.dfs.replication must be at least 1"):
        DataNodeRole().configure(context(DATANODES[0], **{"dfs.replication": 0}))
    assert size_bytes("128m") == 128 << 20 and size_bytes("4096") == 4096


def test_a_cluster_needs_exactly_one_namenode() -> None:
    second = Member("hd-DataMaster-1", "DataMaster", 1, "127.77.0.9")
    with pytest.raises(NodeBootstrapError, match="2 hadoop_namenode nodes"):
        DataNodeRole().configure(context(DATANODES[0], namenodes=(NAMENODE, second)))


def test_the_endpoints_are_fs_default_fs_and_webhdfs() -> None:
    assert NameNodeRole().endpoints("hd", {"hadoop_namenode": (NAMENODE,)}) == {
        "hdfs": "hdfs://127.77.0.1:8020", "webhdfs": "http://127.77.0.1:50070/webhdfs/v1"}


# NameNodeInfo as Hadoop 2.7.3's NameNode served it here (trimmed to the keys read)
LIVE = {"127.77.0.2:50010": {"xferaddr": "127.77.0.2:50010", "adminState": "In Service"},
        "127.77.0.4:50010": {"xferaddr": "127.77.0.4:50010",
                             "adminState": "Decommission In Progress"}}
INFO = {"Safemode": "", "LiveNodes": json.dumps(LIVE),
        "DeadNodes": json.dumps({"127.77.0.3:50010": {"decommissioned": False,
                                                      "xferaddr": "127.77.0.3:50010"}}),
        "DecomNodes": json.dumps({"127.77.0.4:50010": {"underReplicatedBlocks": 7,
                                                       "xferaddr": "127.77.0.4:50010"}})}


def test_the_namenode_info_bean_is_read_as_datanodes_by_address() -> None:
    view = hdfs_jmx.parse_namenode_info(INFO)
    assert view.safemode == ""
    assert view.datanodes == {
        "127.77.0.2": hdfs_jmx.DataNodeView("127.77.0.2", "In Service", alive=True),
        "127.77.0.3": hdfs_jmx.DataNodeView("127.77.0.3", "Dead", alive=False),
        "127.77.0.4": hdfs_jmx.DataNodeView("127.77.0.4", "Decommission In Progress",
                                            alive=True)}
    assert view.blocks_to_copy == {"127.77.0.4": 7}
    assert hdfs_jmx.parse_namenode_info({"LiveNodes": "not json"}).datanodes == {}


class FixedView(DataNodeRole):
    """A DataNode role whose NameNode says what the test wants, in order."""

    def __init__(self, *states: str):
        self.states = list(states)

    def _view(self, ctx: RoleContext, namenode: Member) -> hdfs_jmx.NameNodeView:
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return hdfs_jmx.NameNodeView("", {ctx.node.address: hdfs_jmx.DataNodeView(
            ctx.node.address, state, alive=True)})


def test_scale_in_below_dfs_replication_is_refused() -> None:
    assert scale_in_refusal("dn", 3, 3) is None
    assert scale_in_refusal("dn", 2, 2) is None
    message = scale_in_refusal("hd-DataWorker-1", 1, 2)
    assert message is not None
    assert "leave 1 DataNode, fewer than hdfs.dfs.replication (2)" in message
    # a resize from 3 to 2 with the default replication (3): refused before anything
    peers: dict[str, RecordingTransport] = {}
    leaving = context(DATANODES[2], datanodes=DATANODES[:2], peers=peers)
    with pytest.raises(NodeBootstrapError, match=r"leave 2 DataNodes.*\(3\)"):
        FixedView("In Service").decommission(leaving)
    assert peers == {}  # the NameNode's excludes were not touched


def test_a_decommission_excludes_the_node_on_the_namenode_and_waits() -> None:
    peers: dict[str, RecordingTransport] = {}
    leaving = context(DATANODES[2], datanodes=DATANODES[:2], peers=peers,
                      **{"dfs.replication": 2})
    peers[NAMENODE.name] = namenode = RecordingTransport(NAMENODE.address)
    namenode.write_file("conf/dfs.exclude", "127.77.0.9\n")
    FixedView("In Service", "Decommission In Progress", "Decommissioned").decommission(
        leaving)
    assert namenode.read_file("conf/dfs.exclude") == "127.77.0.4\n127.77.0.9\n"
    (refresh,) = namenode.commands
    assert refresh[-2:] == ["org.apache.hadoop.hdfs.tools.DFSAdmin", "-refreshNodes"]
    assert refresh[refresh.index("-cp") + 1].startswith("/memory/conf:")
    # decommissioned already (an earlier attempt got that far): nothing more to do
    FixedView("Decommissioned").decommission(leaving)
    assert len(namenode.commands) == 1


def test_a_datanode_reusing_an_excluded_address_takes_it_out_before_it_starts() -> None:
    peers: dict[str, RecordingTransport] = {}
    joining = context(DATANODES[2], peers=peers)
    peers[NAMENODE.name] = namenode = RecordingTransport(NAMENODE.address)
    namenode.write_file("conf/dfs.exclude", "127.77.0.4\n127.77.0.9\n")
    assert DataNodeRole().admit(joining, ["java"]) == ["java"]
    assert namenode.read_file("conf/dfs.exclude") == "127.77.0.9\n"
    assert namenode.commands[-1][-1] == "-refreshNodes"
    # not excluded: the NameNode is left alone
    DataNodeRole().admit(context(DATANODES[0], peers=peers), ["java"])
    assert len(namenode.commands) == 1
