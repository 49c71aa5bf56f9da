"""The Spark roles on local nodes: what they render and how they refuse or report failure."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndovu.catalog import Catalog
from ndovu.errors import NodeBootstrapError
from ndovu.providers.base import NodeRequest
from ndovu.providers.local import LocalProvider
from ndovu.roles.base import Member, RoleContext
from ndovu.roles.registry import builtin_roles
from ndovu.roles.spark import SparkMasterRole, SparkWorkerRole
from ndovu.spec.model import RoleSoftware
from ndovu.transports.local import node_processes
from tests.helpers import Server

pytestmark = pytest.mark.integration

SUBNET = "127.66.0.0/16"
MASTER = SparkMasterRole()
WORKER = SparkWorkerRole()


@pytest.fixture(scope="module")
def depot(tmp_path_factory: pytest.TempPathFactory, distros_dir: Path) -> Iterator[str]:
    """The depot URL of a real ndovu server that serves the Spark distribution."""
    srv = Server(tmp_path_factory.mktemp("depot") / "state", subnet=SUBNET,
                 catalog_dirs=(distros_dir,)).start()
    yield f"{srv.url}/depot"
    srv.stop()


@pytest.fixture(scope="module")
def software(distros_dir: Path) -> dict[str, RoleSoftware]:
    spark = Catalog.load([distros_dir]).get("spark")
    assert spark.software_problem is None, spark.software_problem
    return dict(spark.software)


@pytest.fixture
def make_contexts(provider: LocalProvider, depot: str, software: dict[str, RoleSoftware]):
    def make(cluster: str, groups: dict[str, tuple[str, int]],
             configuration: dict | None = None) -> dict[str, RoleContext]:
        """Contexts by node name; ``groups`` maps a group to (its role, its node count)."""
        nodes, members = [], {}
        for group, (role, count) in groups.items():
            for i in range(count):
                info = provider.ensure_node(NodeRequest(
                    cluster=cluster, name=f"{cluster}-{group}-{i}", group=group, index=i,
                    cpu=1, memory_mb=256, storage_gb=1))
                member = Member(info.name, group, i, info.address)
                nodes.append((member, info))
                members.setdefault(role, []).append(member)
        frozen = {role: tuple(ms) for role, ms in members.items()}
        return {m.name: RoleContext(cluster=cluster, node=m,
                                    transport=provider.transport(info), members=frozen,
                                    configuration=configuration or {}, software=software,
                                    depot_url=depot)
                for m, info in nodes}
    return make


def properties(ctx: RoleContext) -> dict[str, str]:
    text = ctx.transport.read_file("conf/spark-defaults.conf") or ""
    return dict(line.split(" ", 1) for line in text.splitlines()
                if line and not line.startswith("#"))


def test_builtin_roles() -> None:
    roles = builtin_roles()
    master, worker = roles["spark_master"], roles["spark_worker"]
    assert master.provides == {"spark_master"} and master.requires == frozenset()
    assert master.uses == {"zookeeper"}
    assert worker.requires == {"spark_master"} and worker.uses == frozenset()
    assert master.config_section == worker.config_section == "spark"
    assert {"worker.cores", "worker.memory"} <= set(worker.settings)
    assert "daemon.memory" in master.settings and "daemon.memory" in worker.settings
    # the software comes from the depot and the node's packages: the server needs none
    assert master.unsupported_reason() is None and worker.unsupported_reason() is None
    assert "bin/spark-class" in master.required_files
    assert "java" in master.required_programs


def test_standalone_rendering(make_contexts) -> None:
    contexts = make_contexts("plain", {"master": ("spark_master", 1),
                                                 "worker": ("spark_worker", 2)},
                             {"spark": {"worker.cores": "2", "worker.memory": "768m",
                                        "daemon.memory": "384m", "worker.timeout": 30},
                              "zookeeper": {"tickTime": 500}})
    master, worker = contexts["plain-master-0"], contexts["plain-worker-1"]
    MASTER.configure(master)
    props = properties(master)
    assert props["spark.master.rest.enabled"] == "false"
    assert props["spark.worker.timeout"] == "30"
    assert "spark.deploy.recoveryMode" not in props
    argv = MASTER.command(master)
    assert argv[0].endswith("/bin/spark-class") and argv[1].endswith(".master.Master")
    assert argv[2:] == ["--host", master.node.address, "--port", "7077",
                        "--webui-port", "8080", "--properties-file",
                        master.transport.path("conf/spark-defaults.conf")]
    env = MASTER.environment(master)
    assert env["SPARK_LOCAL_IP"] == master.node.address
    assert env["SPARK_DAEMON_MEMORY"] == "384m"
    assert env["SPARK_CONF_DIR"] == master.transport.path("conf")

    WORKER.configure(worker)
    argv = WORKER.command(worker)
    assert argv[1].endswith(".worker.Worker")
    assert argv[2:14] == ["--host", worker.node.address, "--port", "7078",
                          "--webui-port", "8081", "--cores", "2", "--memory", "768m",
                          "--work-dir", worker.transport.path("work")]
    assert argv[14] == f"spark://{master.node.address}:7077"
    env = WORKER.environment(worker)
    assert env["SPARK_LOCAL_IP"] == worker.node.address
    # executors inherit it: their PySpark daemons then listen on no TCP port
    assert "-Dspark.python.unix.domain.socket.enabled=true" in env["JAVA_TOOL_OPTIONS"]
    assert WORKER.endpoints("plain", worker.members) == {"spark_worker_ui": ",".join(
        f"http://{contexts[f'plain-worker-{i}'].node.address}:8081" for i in range(2))}


def test_ha_rendering(make_contexts) -> None:
    contexts = make_contexts("ha", {"zookeeper": ("zookeeper", 3),
                                              "master": ("spark_master", 2),
                                              "worker": ("spark_worker", 1)})
    master = contexts["ha-master-1"]
    MASTER.configure(master)
    props = properties(master)
    zookeepers = [contexts[f"ha-zookeeper-{i}"].node.address for i in range(3)]
    assert props["spark.deploy.recoveryMode"] == "ZOOKEEPER"
    assert props["spark.deploy.zookeeper.url"] == ",".join(f"{a}:2181" for a in zookeepers)
    assert props["spark.deploy.zookeeper.dir"] == "/ndovu/ha/spark"
    masters = [contexts[f"ha-master-{i}"].node.address for i in range(2)]
    url = f"spark://{masters[0]}:7077,{masters[1]}:7077"
    assert WORKER.command(contexts["ha-worker-0"])[14] == url
    assert MASTER.endpoints("ha", master.members) == {
        "spark": url, "spark_master_ui": ",".join(f"http://{a}:8080" for a in masters)}


@pytest.mark.parametrize(("role", "settings"), [
    (WORKER, {"worker.cores": 0}), (WORKER, {"worker.memory": "lots"}),
    (MASTER, {"daemon.memory": "1.5g"}), (MASTER, {"deploy.spreadOut": "maybe"}),
])
def test_invalid_configuration(make_contexts, role, settings: dict) -> None:
    """The API refuses these first; the roles still refuse to render them."""
    contexts = make_contexts("bad", {"master": ("spark_master", 1),
                                               "worker": ("spark_worker", 1)},
                             {"spark": settings})
    ctx = contexts["bad-master-0" if role is MASTER else "bad-worker-0"]
    with pytest.raises(NodeBootstrapError, match=next(iter(settings))):
        role.configure(ctx)


def test_taken_port(make_contexts) -> None:
    ctx = make_contexts("busy", {"master": ("spark_master", 1)})["busy-master-0"]
    MASTER.configure(ctx)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((ctx.node.address, 8080))
        squatter.listen()
        with pytest.raises(NodeBootstrapError,
                           match=f"port 8080 on {ctx.node.address} is already in use"):
            MASTER.start(ctx)
    assert node_processes(Path(ctx.transport.path("conf")).parent) == []


def test_exited_daemon_reports_its_log(make_contexts) -> None:
    # a heap the JVM refuses: spark-class starts, then the daemon's JVM exits at once
    ctx = make_contexts("broken", {"master": ("spark_master", 1)},
                        {"spark": {"daemon.memory": "1k"}})["broken-master-0"]
    MASTER.install(ctx)  # fetched from the server's depot and unpacked on the node
    home = MASTER.software_home(ctx)
    assert home.startswith(ctx.transport.software_dir)
    assert Path(home, "bin", "spark-class").is_file()
    MASTER.configure(ctx)
    MASTER.start(ctx)
    deadline = time.monotonic() + 60
    while not (health := MASTER.health(ctx)).failed:
        assert time.monotonic() < deadline, f"the master did not exit: {health}"
        time.sleep(0.3)
    assert not health.ok
    assert health.message.startswith("spark_master process is not running; its log says:")
    assert "heap" in health.message.lower(), health
