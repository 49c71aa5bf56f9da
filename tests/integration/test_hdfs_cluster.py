"""End to end: a real ndovu server deploys the seeds' HDFS type (a NameNode and 3 DataNodes,
Hadoop 2.7.3's HDFS from the depot) on the local provider; a 5 MB file is written with
the HDFS shell (FsShell from the depot's tarball, with the NameNode node's conf) and read
back byte for byte through the shell and through WebHDFS; it outlives a stop and a
start; a resize 3 -> 2 decommissions the DataNode it removes first (its blocks get their
replicas elsewhere, none is lost), and a resize below dfs.replication is refused; a
delete leaves no process."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndovu.roles import hdfs
from tests.hdfs_clients import block_hosts
from tests.hdfs_clients import read as webhdfs_read
from tests.hdfs_clients import write as webhdfs_write
from tests.helpers import Server, kill_all, node_pids, run_operation

pytestmark = pytest.mark.integration

SUBNET = "127.77.0.0/16"
# 1 MB blocks: the 5 MB file has 5 of them, each on 2 of the DataNodes
CONFIGURATION = {"hdfs": {"heap": "128m", "dfs.replication": 2, "dfs.blocksize": "1m"}}
DATA = os.urandom(5 * 1024 * 1024)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, distros_dir: Path) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("hdfs") / "state", subnet=SUBNET,
                 catalog_dirs=(distros_dir,)).start()
    yield srv
    srv.stop()
    kill_all(srv.state_dir)  # whatever a failed test left behind


def _nodes(cluster: dict) -> list[dict]:
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def _shell(server: Server, namenode: str, *args: str, data: bytes | None = None) -> bytes:
    """The HDFS shell (FsShell) from the depot's tarball as the nodes have it, with the
    NameNode node's configuration (fs.defaultFS, dfs.replication, dfs.blocksize)."""
    (home,) = (server.state_dir / "software").glob("hadoop-2.7.3-*")
    conf = server.state_dir / "nodes" / namenode / "conf"
    argv = hdfs.java_argv(str(home), hdfs.FSSHELL_CLASS, *args, heap="128m", conf=str(conf),
                          client=True)
    done = subprocess.run(argv, input=data, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return done.stdout


def test_hdfs_keeps_a_file_through_restart_and_decommission(server: Server) -> None:
    with server.client() as c:
        op = run_operation(c, "POST", "/v1/clusters", name="hd", type="hdfs",
                  configuration=CONFIGURATION)
        assert op["status"] == "COMPLETED", op["errorMessage"]
        cluster = c.get("/v1/clusters/hd").json()
        nodes = _nodes(cluster)
        assert [n["name"] for n in nodes] == [
            "hd-DataMaster-0", "hd-DataWorker-0", "hd-DataWorker-1", "hd-DataWorker-2"]
        assert {n["status"] for n in nodes} == {"SERVICE_READY"}
        namenode, datanodes = nodes[0], [n["ip"] for n in nodes[1:]]
        webhdfs = cluster["endpoints"]["webhdfs"]
        assert cluster["endpoints"]["hdfs"] == f"hdfs://{namenode['ip']}:8020"
        assert webhdfs == f"http://{namenode['ip']}:50070/webhdfs/v1"

        # written with the shell, read back through the shell and WebHDFS
        _shell(server, namenode["name"], "-put", "-", "/five.bin", data=DATA)
        assert _shell(server, namenode["name"], "-cat", "/five.bin") == DATA
        assert webhdfs_read(webhdfs, "/five.bin") == DATA
        webhdfs_write(webhdfs, "/web.bin", DATA[::-1])
        assert webhdfs_read(webhdfs, "/web.bin") == DATA[::-1]
        # every DataNode registered under its own address, each block on 2 of them
        placement = block_hosts(webhdfs, "/five.bin", len(DATA))
        assert len(placement) == 5 and all(len(hosts) == 2 for hosts in placement)
        assert set().union(*placement) <= set(datanodes)

        # stopped and started again, the NameNode keeps its namespace (no new format)
        assert run_operation(c, "POST", "/v1/clusters/hd/stop")["status"] == "COMPLETED"
        assert node_pids(server.state_dir) == []
        op = run_operation(c, "POST", "/v1/clusters/hd/start")
        assert op["status"] == "COMPLETED", op["errorMessage"]
        assert webhdfs_read(webhdfs, "/five.bin") == DATA

        # the DataNode a resize removes is decommissioned first: its blocks are copied
        op = run_operation(c, "PUT", "/v1/clusters/hd/nodegroups/DataWorker/instancenum",
                  instanceNum=2)
        assert op["status"] == "COMPLETED", op["errorMessage"]
        cluster = c.get("/v1/clusters/hd").json()
        assert [n["ip"] for n in _nodes(cluster)[1:]] == datanodes[:2]
        assert node_pids(server.state_dir / "nodes" / "hd-DataWorker-2") == []
        # (the NameNode lists the removed DataNode's replicas too, as decommissioned, until
        # it declares the node dead after 10 minutes without heartbeats)
        placement = block_hosts(webhdfs, "/five.bin", len(DATA))
        assert len(placement) == 5 and all(set(datanodes[:2]) <= hosts for hosts in placement)
        assert webhdfs_read(webhdfs, "/five.bin") == DATA
        assert webhdfs_read(webhdfs, "/web.bin") == DATA[::-1]
        assert _shell(server, namenode["name"], "-cat", "/five.bin") == DATA

        # one DataNode could not keep 2 replicas of each block: refused, nothing lost
        op = run_operation(c, "PUT", "/v1/clusters/hd/nodegroups/DataWorker/instancenum",
                  instanceNum=1)
        assert op["status"] == "FAILED"
        assert "hd-DataWorker-1" in op["errorMessage"]
        assert "dfs.replication (2)" in op["errorMessage"]
        assert webhdfs_read(webhdfs, "/five.bin") == DATA

        assert run_operation(c, "DELETE", "/v1/clusters/hd")["status"] == "COMPLETED"
        assert node_pids(server.state_dir) == []
