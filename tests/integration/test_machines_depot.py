"""End to end on other machines: Spark, Spark-HA, Kafka, Cassandra and HDFS on test-bed
hosts through the `machines` provider. Nothing of their software is on the hosts
beforehand: each node fetches its distribution from the server's software depot (the
server listens on the test bed's bridge for that), unpacks it, installs a JRE from the
test bed's package repository, and runs the daemons; a real PySpark job then runs on the
workers with the driver in this test process, and real Kafka, Cassandra and WebHDFS
clients write and read."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cassandra import ConsistencyLevel

from ndovu.roles import kafka_protocol
from tests.cassandra_clients import read_rows, write_rows
from tests.hdfs_clients import block_hosts
from tests.hdfs_clients import read as webhdfs_read
from tests.hdfs_clients import write as webhdfs_write
from tests.helpers import Server, wait_operation, wait_until
from tests.kafka_clients import consume, produce
from tests.spark_jobs import finish_job, start_job
from tests.testbed import Host, TestBed, network
from tests.testbed.fixtures import module_hosts

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

SOFTWARE_DIR = "/var/lib/ndovu/software"


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return s.getsockname()[1]


hosts = module_hosts(6, "spk")


@pytest.fixture
def server(tmp_path: Path, testbed: TestBed, hosts: list[Host],
           distros_dir: Path) -> Iterator[Server]:
    # on the bridge: the hosts download the depot's files from this address
    srv = Server(tmp_path / "state", subnet="127.65.0.0/16", host=network.BRIDGE_ADDRESS,
                 port=_free_port(network.BRIDGE_ADDRESS), catalog_dirs=(distros_dir,),
                 args=("--provider", "machines"))
    testbed.allow_port(srv.port)
    srv.start()
    key = testbed.operator_key.read_text()
    with srv.client() as c:
        for host in hosts:
            r = c.post("/v1/machines", json={"name": host.name, "address": host.address,
                                             "privateKey": key})
            assert r.status_code == 201, r.text
    yield srv
    with srv.client() as c, contextlib.suppress(httpx.HTTPError):
        for cluster in c.get("/v1/clusters").json().get("clusters", []):
            wait_operation(c, c.delete(f"/v1/clusters/{cluster['name']}").json()["id"])
    srv.stop()
    testbed.disallow_port(srv.port)


def _create(client: httpx.Client, **body: object) -> dict:
    r = client.post("/v1/clusters", json=body)
    assert r.status_code == 202, r.text
    op = wait_operation(client, r.json()["id"], timeout=900)
    assert op["status"] == "COMPLETED", op["errorMessage"]
    return client.get(f"/v1/clusters/{body['name']}").json()


def _by_group(cluster: dict) -> dict[str, list[dict]]:
    return {g["name"]: g["instances"] for g in cluster["nodeGroups"]}


def _run_job(testbed: TestBed, tmp: Path, master: str, app: str) -> dict:
    """The job with its driver on the bridge, reachable by the executors on the hosts."""
    ports = {"spark.driver.port": _free_port(network.BRIDGE_ADDRESS),
             "spark.blockManager.port": _free_port(network.BRIDGE_ADDRESS)}
    for port in ports.values():
        testbed.allow_port(port)
    try:
        job = start_job(master, network.BRIDGE_ADDRESS, tmp, app, executor_python="python3",
                        driver_conf={key: str(port) for key, port in ports.items()})
        return finish_job(job, timeout=300)
    finally:
        for port in ports.values():
            testbed.disallow_port(port)


def _by_address(hosts: list[Host]) -> dict[str, Host]:
    return {h.address: h for h in hosts}


def test_spark_runs_a_job_on_machines_from_the_depot(
        server: Server, testbed: TestBed, hosts: list[Host], tmp_path: Path) -> None:
    # nothing of Spark on the hosts beforehand, and no pyspark for their python3
    assert hosts[0].run(["python3", "-c", "import pyspark"]).returncode != 0
    with server.client() as c:
        cluster = _create(c, name="spm", type="spark")
        groups = _by_group(cluster)
        [master] = groups["master"]
        workers = groups["worker"]
        assert {n["status"] for g in groups.values() for n in g} == {"SERVICE_READY"}
        result = _run_job(testbed, tmp_path, cluster["endpoints"]["spark"], "spm-job")
        assert result["sum"] == 500500
        # the executors ran on the worker machines, at their addresses
        assert result["hosts"] == sorted(n["ip"] for n in workers)
        # each node unpacked the depot's distribution on its own machine
        machine = _by_address(hosts)[master["ip"]]
        unpacked = machine.run(["ls", SOFTWARE_DIR]).stdout.split()
        assert [d for d in unpacked if d.startswith("spark-4.3.0-bin-ndovu-")], unpacked
        op = wait_operation(c, c.delete("/v1/clusters/spm").json()["id"], timeout=300)
        assert op["status"] == "COMPLETED", op
        for node in [master, *workers]:
            left = _by_address(hosts)[node["ip"]].run(["pgrep", "-f", "org.apache.spark"])
            assert left.stdout.strip() == "", f"Spark still runs on {node['ip']}"


def test_spark_ha_runs_a_job_through_its_masters_on_machines(
        server: Server, testbed: TestBed, hosts: list[Host], tmp_path: Path) -> None:
    with server.client() as c:
        cluster = _create(c, name="sph", type="spark_ha",
                          nodeGroups=[{"name": "worker", "instanceNum": 1}])
        groups = _by_group(cluster)
        assert [len(groups[g]) for g in ("zookeeper", "master", "worker")] == [3, 2, 1]
        states = sorted(httpx.get(f"http://{m['ip']}:8080/json/", timeout=10).json()["status"]
                        for m in groups["master"])
        assert states == ["ALIVE", "STANDBY"]  # elected through the ZooKeeper ensemble
        url = cluster["endpoints"]["spark"]
        assert url.count(":7077") == 2
        result = _run_job(testbed, tmp_path, url, "sph-job")
        assert result["sum"] == 500500 and result["hosts"] == [groups["worker"][0]["ip"]]


def test_kafka_on_machines_keeps_messages_through_a_lost_broker(
        server: Server, hosts: list[Host]) -> None:
    with server.client() as c:
        cluster = _create(c, name="kfm", type="kafka", configuration={
            "kafka": {"default.replication.factor": 3, "num.partitions": 2}})
        brokers = [n["ip"] for n in _by_group(cluster)["Broker"]]
        assert len(brokers) == 3 and len(set(brokers)) == 3  # a machine each
        produce(f"{brokers[0]}:9092", 100)
        expected = sorted(f"message {i}" for i in range(100))
        assert sorted(consume(f"{brokers[2]}:9092", 2, 100)) == expected
        # the leader's machine loses its broker behind ndovu's back
        known = kafka_protocol.metadata(brokers[1], 9092)
        leader, _ = known.brokers[next(p.leader for p in known.partitions if p.id == 0)]
        _by_address(hosts)[leader].run(["pkill", "-9", "-f", "kafka.Kafka"])
        survivor = next(b for b in brokers if b != leader)
        wait_until(lambda: all(p.leader != -1 and known.brokers.get(p.leader, ("",))[0]
                               != leader for p in kafka_protocol.metadata(
                                   survivor, 9092).partitions), timeout=60,
                   what="new leaders on the machines that stay")
        assert sorted(consume(f"{survivor}:9092", 2, 100)) == expected


def test_cassandra_on_machines_serves_rows_at_quorum(server: Server) -> None:
    with server.client() as c:
        cluster = _create(c, name="csm", type="cassandra", configuration={
            "cassandra": {"heap": "256m", "ring_delay_ms": 4000, "num_tokens": 64}})
        addresses = [n["ip"] for g in cluster["nodeGroups"] for n in g["instances"]]
        assert len(addresses) == 5 and len(set(addresses)) == 5  # a machine each
        rows = {k: f"row {k}" for k in range(100)}
        # written through a non-seed, read at QUORUM through a seed on another machine
        write_rows(addresses[2], rows, replicas=3)
        assert read_rows(addresses[0], ConsistencyLevel.QUORUM) == rows


def test_hdfs_on_machines_decommissions_a_datanode_first(server: Server) -> None:
    data = os.urandom(3 * 1024 * 1024)
    with server.client() as c:
        cluster = _create(c, name="hdm", type="hdfs", configuration={
            "hdfs": {"heap": "128m", "dfs.replication": 2, "dfs.blocksize": "1m"}})
        datanodes = [n["ip"] for n in _by_group(cluster)["DataWorker"]]
        webhdfs = cluster["endpoints"]["webhdfs"]
        webhdfs_write(webhdfs, "/three.bin", data)
        assert webhdfs_read(webhdfs, "/three.bin") == data
        placement = block_hosts(webhdfs, "/three.bin", len(data))
        assert len(placement) == 3 and all(len(hosts) == 2 for hosts in placement)
        assert set().union(*placement) <= set(datanodes)
        # the leaving DataNode is named in the excludes file on the NameNode's machine
        # (over SSH) and its blocks copied before its machine is given back
        r = c.put("/v1/clusters/hdm/nodegroups/DataWorker/instancenum",
                  json={"instanceNum": 2})
        assert r.status_code == 202, r.text
        op = wait_operation(c, r.json()["id"], timeout=600)
        assert op["status"] == "COMPLETED", op["errorMessage"]
        placement = block_hosts(webhdfs, "/three.bin", len(data))
        assert all(set(datanodes[:2]) <= hosts for hosts in placement)
        assert webhdfs_read(webhdfs, "/three.bin") == data
