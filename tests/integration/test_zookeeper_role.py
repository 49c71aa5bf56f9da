"""The ZooKeeper role on local nodes: a real 3-member ensemble from Debian's package."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from ndovu.errors import NodeBootstrapError
from ndovu.providers.base import NodeRequest
from ndovu.providers.local import LocalProvider
from ndovu.roles.base import Health, Member, RoleContext
from ndovu.roles.registry import builtin_roles
from ndovu.roles.zookeeper import ZooKeeperRole
from ndovu.transports.local import node_processes

pytestmark = pytest.mark.integration

# a subnet of its own, away from other tests and from the default 127.1.0.0/16
SUBNET = "127.101.0.0/16"
ROLE = ZooKeeperRole()


def make_contexts(provider: LocalProvider, cluster: str, count: int,
                  configuration: dict | None = None) -> list[RoleContext]:
    nodes = [provider.ensure_node(NodeRequest(
        cluster=cluster, name=f"{cluster}-zk-{i}", group="zk", index=i, cpu=1,
        memory_mb=256, storage_gb=1)) for i in range(count)]
    members = tuple(Member(n.name, n.group, n.index, n.address) for n in nodes)
    return [RoleContext(cluster=cluster, node=member, transport=provider.transport(node),
                        members={"zookeeper": members}, configuration=configuration or {})
            for member, node in zip(members, nodes, strict=True)]


def java_processes(ctx: RoleContext) -> list[int]:
    root = Path(ctx.transport.path("conf")).parent
    return [pid for pid in node_processes(root)
            if Path(f"/proc/{pid}/exe").resolve().name == "java"]


@pytest.fixture(autouse=True)
def needs_zookeeper() -> None:
    # `bash scripts/test.sh` installs ZooKeeper; without it these tests must fail, not skip
    reason = ROLE.unsupported_reason()
    if reason:
        pytest.fail(reason)


def test_three_member_ensemble(provider: LocalProvider) -> None:
    contexts = make_contexts(provider, "zoo", 3)
    for ctx in contexts:
        ROLE.configure(ctx)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(ROLE.start, contexts))
    for ctx in contexts:
        ROLE.start(ctx)  # idempotent: still one JVM per node
        assert len(java_processes(ctx)) == 1

    deadline = time.monotonic() + 60
    healths: list[Health] = []
    while True:
        healths = [ROLE.health(ctx) for ctx in contexts]
        modes = sorted(h.message for h in healths if h.ok)
        if modes == ["Mode: follower", "Mode: follower", "Mode: leader"]:
            break
        assert time.monotonic() < deadline, f"no quorum within 60 s: {healths}"
        time.sleep(0.3)
    print(f"\nquorum of 3 in {time.monotonic() - started:.2f} s")

    endpoints = ROLE.endpoints("zoo", contexts[0].members)
    assert endpoints == {"zookeeper": ",".join(f"{c.node.address}:2181" for c in contexts)}

    first = KazooClient(hosts=f"{contexts[0].node.address}:2181", timeout=10)
    third = KazooClient(hosts=f"{contexts[2].node.address}:2181", timeout=10)
    try:
        first.start(timeout=15)
        first.create("/ndovu/greeting", b"jambo", makepath=True)
        third.start(timeout=15)
        third.sync("/ndovu/greeting")  # a follower may lag: catch up with the leader
        value, _ = third.get("/ndovu/greeting")
        assert value == b"jambo"
    finally:
        for client in (first, third):
            client.stop()
            client.close()

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(ROLE.stop, contexts))
    print(f"stop of 3 in {time.monotonic() - started:.2f} s")
    for ctx in contexts:
        assert java_processes(ctx) == []
        assert node_processes(Path(ctx.transport.path("conf")).parent) == []
        health = ROLE.health(ctx)
        assert not health.ok and health.failed
        assert health.message.startswith("zookeeper process is not running; its log says:")
        assert "(no log)" not in health.message
        ROLE.stop(ctx)  # idempotent


def test_taken_client_port(provider: LocalProvider) -> None:
    contexts = make_contexts(provider, "busy", 3)
    for ctx in contexts:
        ROLE.configure(ctx)
    address = contexts[1].node.address
    with socket.socket() as squatter:
        # an earlier test's member on this address may have left TIME_WAIT connections
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((address, 2181))
        squatter.listen()
        started = time.monotonic()
        with pytest.raises(NodeBootstrapError, match=f"port 2181 on {address} is already "
                                                     "in use") as caught:
            ROLE.start(contexts[1])
        assert time.monotonic() - started < 5
    assert caught.value.node == contexts[1].node.name
    assert caught.value.role == "zookeeper"
    assert java_processes(contexts[1]) == []


def test_exited_member_reports_its_error(provider: LocalProvider) -> None:
    ctx = make_contexts(provider, "broken", 1)[0]
    ROLE.configure(ctx)
    # a config ZooKeeper itself rejects: the JVM starts, then exits with its reason
    ctx.transport.write_file("conf/zoo.cfg",
                             ctx.transport.read_file("conf/zoo.cfg") + "tickTime=abc\n")
    ROLE.start(ctx)
    deadline = time.monotonic() + 30
    while not (health := ROLE.health(ctx)).failed:
        assert time.monotonic() < deadline, f"zookeeper did not exit: {health}"
        time.sleep(0.3)
    assert not health.ok
    assert "Invalid config" in health.message or "tickTime" in health.message, health


def test_rendered_configuration(provider: LocalProvider) -> None:
    contexts = make_contexts(provider, "conf", 3,
                             {"zookeeper": {"tickTime": 1000, "autopurge.purgeInterval": "2"},
                              "spark": {"worker.memory": "1g"}})
    ROLE.configure(contexts[1])
    transport = contexts[1].transport
    config = dict(line.split("=", 1) for line in transport.read_file("conf/zoo.cfg")
                  .splitlines() if line and not line.startswith("#"))
    addresses = [c.node.address for c in contexts]
    assert config["tickTime"] == "1000"
    assert config["initLimit"] == "10" and config["syncLimit"] == "5"
    assert config["autopurge.purgeInterval"] == "2"
    assert config["dataDir"] == transport.path("data")
    assert config["clientPortAddress"] == addresses[1]
    assert config["standaloneEnabled"] == "false"
    assert config["admin.enableServer"] == "false"
    assert config["quorumListenOnAllIPs"] == "false"
    for k, address in enumerate(addresses, start=1):
        assert config[f"server.{k}"] == f"{address}:2888:3888"
    assert "worker.memory" not in config and "maxSessionTimeout" not in config
    assert transport.read_file("data/myid") == "2\n"
    assert "zookeeper.log" in transport.read_file("conf/log4j.properties")

    single = make_contexts(provider, "solo", 1)[0]
    ROLE.configure(single)
    assert "standaloneEnabled" not in single.transport.read_file("conf/zoo.cfg")


@pytest.mark.parametrize("settings", [
    {"tickTime": 0}, {"initLimit": "ten"}, {"syncLimit": True}, {"maxClientCnxns": -1},
])
def test_invalid_configuration(provider: LocalProvider, settings: dict) -> None:
    """The API refuses these first; the role still refuses to render them."""
    ctx = make_contexts(provider, "bad", 1, {"zookeeper": settings})[0]
    with pytest.raises(NodeBootstrapError, match=next(iter(settings))):
        ROLE.configure(ctx)


def test_builtin_roles() -> None:
    roles = builtin_roles()
    assert "zookeeper" in roles
    role = roles["zookeeper"]
    assert role.provides == {"zookeeper"} and role.requires == frozenset()
    assert role.unsupported_reason() is None
