"""End to end: a real ndovu server deploys the seeds' Cassandra type (2 seeds + 3 nodes,
Cassandra 1.2.0 from the depot) on the local provider; a real client (the DataStax Python
driver, speaking Cassandra 1.2's native protocol v1) writes rows with 3 replicas through
one node and reads them at QUORUM through another; a node added by a resize joins the
ring and serves them, and a node taken away by a resize hands its data over (every
replica still answers, read at ALL); the ring comes back after a stop and a start; a
delete leaves no process."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cassandra import ConsistencyLevel

from ndovu.roles import cassandra
from tests.cassandra_clients import read_rows, write_rows
from tests.helpers import Server, kill_all, node_pids, run_operation, wait_until

pytestmark = pytest.mark.integration

SUBNET = "127.76.0.0/16"
ROWS = {k: f"row {k}" for k in range(200)}
# small heaps for a CI machine of 2 cores running 6 nodes; a short ring delay, for time:
# a join and a decommission each wait twice the delay, and gossip on loopback settles in
# about a second
CONFIGURATION = {"cassandra": {"heap": "256m", "ring_delay_ms": 4000, "num_tokens": 64}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, distros_dir: Path) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("cassandra") / "state", subnet=SUBNET,
                 catalog_dirs=(distros_dir,)).start()
    yield srv
    srv.stop()
    kill_all(srv.state_dir)  # whatever a failed test left behind


def _nodes(cluster: dict) -> list[dict]:
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def _ring(server: Server, address: str) -> dict[str, str]:
    """The ring as the node at ``address`` sees it: address -> state ("UN": up, normal),
    from nodetool (Cassandra 1.2's NodeCmd, from the depot's tarball on this machine)."""
    (home,) = (server.state_dir / "software").glob("cassandra-1.2.0-*")
    status = subprocess.run(["java", "-Xmx128m", "-cp", f"{home}/lib/*",
                             cassandra.NODETOOL_CLASS, "-h", address, "-p", "7199",
                             "status"], capture_output=True, text=True, timeout=60,
                            check=True)
    return {a: state for a, (state, _) in cassandra.parse_status(status.stdout).items()}


def _up(server: Server, addresses: list[str]) -> Callable[[], bool]:
    """Whether every node sees exactly ``addresses``, all up and normal."""
    everyone = dict.fromkeys(addresses, "UN")
    return lambda: all(_ring(server, a) == everyone for a in addresses)


def test_cassandra_ring_keeps_rows_through_resizes(server: Server) -> None:
    with server.client() as c:
        op = run_operation(c, "POST", "/v1/clusters", name="cs", type="cassandra",
                  configuration=CONFIGURATION)
        assert op["status"] == "COMPLETED", op["errorMessage"]
        cluster = c.get("/v1/clusters/cs").json()
        nodes = _nodes(cluster)
        addresses = [n["ip"] for n in nodes]
        assert [n["name"] for n in nodes] == [
            "cs-Seed-0", "cs-Seed-1", "cs-Worker-0", "cs-Worker-1", "cs-Worker-2"]
        assert {n["status"] for n in nodes} == {"SERVICE_READY"}
        assert cluster["endpoints"]["cassandra"] == ",".join(f"{a}:9042" for a in addresses)
        # each node was in the ring of the one before it when it became ready; gossip
        # tells the rest within seconds
        wait_until(_up(server, addresses), timeout=30, what="every node to see the ring")

        # written through a worker, 3 replicas a row
        write_rows(addresses[2], ROWS, replicas=3)
        # read at QUORUM through a seed
        assert read_rows(addresses[1], ConsistencyLevel.QUORUM) == ROWS

        # a fourth worker joins the ring, streams its share and serves every row
        op = run_operation(c, "PUT", "/v1/clusters/cs/nodegroups/Worker/instancenum", instanceNum=4)
        assert op["status"] == "COMPLETED", op["errorMessage"]
        cluster = c.get("/v1/clusters/cs").json()
        grown = _nodes(cluster)
        added = grown[-1]
        assert added["name"] == "cs-Worker-3" and added["status"] == "SERVICE_READY"
        assert cluster["endpoints"]["cassandra"].endswith(f",{added['ip']}:9042")
        wait_until(_up(server, [n["ip"] for n in grown]), timeout=30,
                   what="every node to see the grown ring")
        assert read_rows(added["ip"], ConsistencyLevel.QUORUM) == ROWS

        # and leaves it again: its ranges go to the others, every replica answers
        op = run_operation(c, "PUT", "/v1/clusters/cs/nodegroups/Worker/instancenum", instanceNum=3)
        assert op["status"] == "COMPLETED", op["errorMessage"]
        cluster = c.get("/v1/clusters/cs").json()
        assert [n["ip"] for n in _nodes(cluster)] == addresses
        assert node_pids(server.state_dir / "nodes" / added["name"]) == []
        wait_until(_up(server, addresses), timeout=30, what="the ring without the node")
        assert read_rows(addresses[4], ConsistencyLevel.ALL) == ROWS

        # stopped and started again, the nodes come back with their data
        assert run_operation(c, "POST", "/v1/clusters/cs/stop")["status"] == "COMPLETED"
        assert node_pids(server.state_dir) == []
        op = run_operation(c, "POST", "/v1/clusters/cs/start")
        assert op["status"] == "COMPLETED", op["errorMessage"]
        wait_until(_up(server, addresses), timeout=30, what="the ring after a start")
        assert read_rows(addresses[3], ConsistencyLevel.ALL) == ROWS

        assert run_operation(c, "DELETE", "/v1/clusters/cs")["status"] == "COMPLETED"
        assert node_pids(server.state_dir) == []
