"""What a Cassandra node is told: its cassandra.yaml, its command line, and how ndovu reads
nodetool's ring (the running ring is tests/integration/test_cassandra_cluster.py's)."""

from __future__ import annotations

import pytest

from ndovu.errors import NodeBootstrapError
from ndovu.roles.base import Member, RoleContext
from ndovu.roles.cassandra import CassandraNodeRole, CassandraSeedRole, parse_status
from ndovu.spec.model import RoleSoftware, Tarball
from tests.engine_doubles import MemoryTransport

SEEDS = (Member("cs-Seed-0", "Seed", 0, "127.76.0.1"), Member("cs-Seed-1", "Seed", 1,
                                                                "127.76.0.2"))
NODES = (Member("cs-Worker-0", "Worker", 0, "127.76.0.3"),)
TARBALL = Tarball("cassandra/cassandra-1.2.0-ndovu.tgz", "ab" * 32, 1)


def context(member: Member, *, joining: bool = False, **settings: object) -> RoleContext:
    return RoleContext(
        cluster="cs", node=member, transport=MemoryTransport(member.address),
        members={"cassandra_seed": SEEDS, "cassandra_node": NODES},
        configuration={"cassandra": settings}, joining=joining,
        software={r: RoleSoftware(tarballs=(TARBALL,))
                  for r in ("cassandra_seed", "cassandra_node")})


def yaml_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines()}


def test_a_node_binds_its_address_and_names_every_seed() -> None:
    lines = yaml_lines(CassandraNodeRole().render_yaml(context(NODES[0], num_tokens=64)))
    assert {'cluster_name: "cs"', "listen_address: 127.76.0.3", "rpc_address: 127.76.0.3",
            "start_native_transport: true", "native_transport_port: 9042",
            '- seeds: "127.76.0.1,127.76.0.2"', "num_tokens: 64",
            "partitioner: org.apache.cassandra.dht.Murmur3Partitioner",
            'commitlog_directory: "/memory/data/commitlog"', '- "/memory/data/data"'} <= lines
    # JVM flags, not cassandra.yaml keys
    assert not [line for line in lines if line.startswith(("heap", "ring_delay_ms"))]


def test_a_seed_joining_a_running_ring_leaves_itself_out_of_its_seed_list() -> None:
    # a seed never bootstraps: one a resize adds would own ranges without their data
    role = CassandraSeedRole()
    assert role.seeds(context(SEEDS[1], joining=True)) == ["127.76.0.1"]
    assert role.seeds(context(SEEDS[1])) == ["127.76.0.1", "127.76.0.2"]
    assert CassandraNodeRole().seeds(context(NODES[0], joining=True)) == [
        "127.76.0.1", "127.76.0.2"]


def test_the_command_line_sets_heap_ring_delay_and_jmx_on_the_node_address() -> None:
    argv = CassandraNodeRole().command(context(NODES[0], heap="256m", ring_delay_ms=4000))
    home = f"/memory-software/cassandra-1.2.0-ndovu-{'ab' * 6}"
    assert argv[:2] == ["java", "-Xmx256m"]
    assert {"-Dcassandra.ring_delay_ms=4000", "-Dcassandra-foreground=yes",
            "-Dcassandra.config=file:///memory/conf/cassandra.yaml",
            "-Dcom.sun.management.jmxremote.host=127.76.0.3",
            "-Djava.rmi.server.hostname=127.76.0.3",
            "--add-opens=java.base/java.io=ALL-UNNAMED"} <= set(argv)
    assert argv[-3:] == ["-cp", f"{home}/lib/*:/memory/conf",
                         "org.apache.cassandra.service.CassandraDaemon"]


def test_a_node_outside_the_ring_is_refused() -> None:
    stranger = Member("cs-Other-0", "Other", 0, "127.76.0.9")
    with pytest.raises(NodeBootstrapError, match="not among the Cassandra nodes"):
        CassandraNodeRole().render_yaml(context(stranger))


def test_the_endpoint_lists_seeds_first_then_the_other_nodes() -> None:
    endpoints = CassandraSeedRole().endpoints(
        "cs", {"cassandra_node": NODES, "cassandra_seed": SEEDS})
    assert endpoints == {"cassandra": "127.76.0.1:9042,127.76.0.2:9042,127.76.0.3:9042"}


# `nodetool status` of Cassandra 1.2.0 as NodeCmd prints it (the first two rows were
# printed on this machine; the other states are written in the same layout)
STATUS = """\
Datacenter: datacenter1
=======================
Status=Up/Down
|/ State=Normal/Leaving/Joining/Moving
--  Address           Load       Tokens  Owns   Host ID                               Rack
UN  127.99.0.1        16.54 KB   16      54.6%  d0be78e6-dfad-4b9a-926b-7d9227347677  rack1
DL  127.99.0.2        18.88 KB   16      45.4%  5c935f97-4914-48ef-af36-718cd06101cb  rack1
UJ  127.99.0.3        ?          16      0.0%   ccdcb4de-64e9-42d6-98a7-41210221d6d6  rack1
"""


def test_nodetool_status_is_read_as_address_state_and_host_id() -> None:
    assert parse_status(STATUS) == {
        "127.99.0.1": ("UN", "d0be78e6-dfad-4b9a-926b-7d9227347677"),
        "127.99.0.2": ("DL", "5c935f97-4914-48ef-af36-718cd06101cb"),
        "127.99.0.3": ("UJ", "ccdcb4de-64e9-42d6-98a7-41210221d6d6"),
    }
    assert parse_status("Failed to connect to '127.99.0.1:7199'") == {}
