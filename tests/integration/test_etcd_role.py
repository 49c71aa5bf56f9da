"""The etcd role on local nodes: a real 3-member cluster from Debian's etcd-server."""

from __future__ import annotations

import ipaddress
import os
import shlex
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ndovu.errors import NodeBootstrapError
from ndovu.providers.base import NodeRequest
from ndovu.providers.local import LocalProvider
from ndovu.roles.base import Health, Member, RoleContext
from ndovu.roles.etcd import EtcdRole
from ndovu.roles.registry import builtin_roles
from ndovu.transports.local import node_processes
from tests.helpers import etcdctl

pytestmark = pytest.mark.integration

# a subnet of its own, away from other tests and from the default 127.1.0.0/16
SUBNET = "127.65.0.0/16"
ROLE = EtcdRole()


@pytest.fixture(autouse=True)
def needs_etcd() -> None:
    # `bash scripts/test.sh` installs etcd; without it these tests must fail, not skip
    reason = ROLE.unsupported_reason()
    if reason:
        pytest.fail(reason)
    if shutil.which("etcdctl") is None:
        pytest.fail("these tests need etcdctl: `apt-get install etcd-client`")


def make_contexts(provider: LocalProvider, cluster: str, count: int,
                  configuration: dict | None = None) -> list[RoleContext]:
    nodes = [provider.ensure_node(NodeRequest(
        cluster=cluster, name=f"{cluster}-etcd-{i}", group="etcd", index=i, cpu=1,
        memory_mb=256, storage_gb=1)) for i in range(count)]
    members = tuple(Member(n.name, n.group, n.index, n.address) for n in nodes)
    return [RoleContext(cluster=cluster, node=member, transport=provider.transport(node),
                        members={"etcd": members}, configuration=configuration or {})
            for member, node in zip(members, nodes, strict=True)]


def node_root(ctx: RoleContext) -> Path:
    return Path(ctx.transport.path("conf")).parent


def etcd_processes(ctx: RoleContext) -> list[int]:
    return [pid for pid in node_processes(node_root(ctx))
            if Path(f"/proc/{pid}/exe").resolve().name == "etcd"]


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def wait_healthy(contexts: list[RoleContext], timeout: float = 60) -> list[Health]:
    deadline = time.monotonic() + timeout
    while True:
        healths = [ROLE.health(ctx) for ctx in contexts]
        if all(h.ok for h in healths):
            return healths
        assert not any(h.failed for h in healths), healths
        assert time.monotonic() < deadline, f"not healthy within {timeout:g} s: {healths}"
        time.sleep(0.2)


def _decode(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # the kernel prints each 32-bit word in host (little-endian) byte order
    packed = b"".join(int(hex_address[i:i + 8], 16).to_bytes(4, "little")
                      for i in range(0, len(hex_address), 8))
    address = ipaddress.ip_address(packed)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def listeners(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                hex_address, hex_port = fields[1].split(":")
                found.add((str(_decode(hex_address)), int(hex_port, 16)))
    return found


def test_three_member_cluster(provider: LocalProvider) -> None:
    contexts = make_contexts(provider, "kv", 3)
    addresses = [c.node.address for c in contexts]
    for ctx in contexts:
        ROLE.configure(ctx)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(ROLE.start, contexts))
    for ctx in contexts:
        ROLE.start(ctx)  # idempotent: still one etcd per node
        assert len(etcd_processes(ctx)) == 1
    healths = wait_healthy(contexts)
    print(f"\n3 healthy members in {time.monotonic() - started:.2f} s: {healths}")

    assert ROLE.endpoints("kv", contexts[0].members) == {
        "etcd": ",".join(f"http://{a}:2379" for a in addresses)}
    assert ROLE.endpoints("kv", {}) == {}

    # every listener on the member's own address: no wildcard, no 127.0.0.1
    for ctx in contexts:
        (pid,) = etcd_processes(ctx)
        assert listeners(pid) == {(ctx.node.address, 2379), (ctx.node.address, 2380)}

    # written via member 1, read via member 3 (a linearizable read, the default)
    assert etcdctl(addresses[0], "put", "/ndovu/greeting", "jambo").strip() == "OK"
    assert etcdctl(addresses[2], "get", "/ndovu/greeting").splitlines() == [
        "/ndovu/greeting", "jambo"]
    members_before = sorted(etcdctl(addresses[0], "member", "list").splitlines())
    assert len(members_before) == 3
    assert all(", started, " in line for line in members_before), members_before

    # member 2 stops; the other two keep a quorum and take a write it misses
    (old_pid,) = etcd_processes(contexts[1])
    ROLE.stop(contexts[1])
    assert etcd_processes(contexts[1]) == []
    health = ROLE.health(contexts[1])
    assert not health.ok and health.failed
    assert etcdctl(addresses[0], "put", "/ndovu/missed", "habari").strip() == "OK"

    # restarted from the same argv, it rejoins as the same member with its own data
    assert Path(contexts[1].transport.path("data/member/wal")).is_dir()
    ROLE.start(contexts[1])
    (new_pid,) = etcd_processes(contexts[1])
    assert new_pid != old_pid
    wait_healthy(contexts)
    assert sorted(etcdctl(addresses[1], "member", "list").splitlines()) == members_before
    # a serializable read answers from the member's own store
    assert etcdctl(addresses[1], "get", "--consistency=s", "/ndovu/greeting").splitlines() \
        == ["/ndovu/greeting", "jambo"]
    assert etcdctl(addresses[1], "get", "/ndovu/missed").splitlines() == [
        "/ndovu/missed", "habari"]

    # two of three gone: the last one runs but cannot serve, which is not a failure
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(ROLE.stop, contexts[:2]))
    deadline = time.monotonic() + 30
    while (health := ROLE.health(contexts[2])).ok:  # it may take a moment to notice
        assert time.monotonic() < deadline, health
        time.sleep(0.2)
    assert not health.failed, health
    assert health.message.startswith(f"etcd on {addresses[2]}:2379 answers unhealthy (HTTP "
                                     '503 {"health":"false"}): it has no leader'), health
    ROLE.stop(contexts[2])
    print(f"stop of 3 in {time.monotonic() - started:.2f} s")
    for ctx in contexts:
        assert etcd_processes(ctx) == []
        assert node_processes(node_root(ctx)) == []
        health = ROLE.health(ctx)
        assert not health.ok and health.failed
        assert health.message.startswith("etcd process is not running; its log says:")
        assert "(no log)" not in health.message
        ROLE.stop(ctx)  # idempotent


def test_waiting_for_quorum_is_not_a_failure(provider: LocalProvider) -> None:
    """One member of three cannot serve yet: not healthy, but worth waiting for."""
    contexts = make_contexts(provider, "lonely", 3)
    ROLE.configure(contexts[0])
    ROLE.start(contexts[0])
    deadline = time.monotonic() + 30
    # until etcd listens, the answer is "connection refused"; then it accepts connections
    # but answers nothing before it has a quorum
    while "connection refused" in (health := ROLE.health(contexts[0])).message:
        assert time.monotonic() < deadline, health
        time.sleep(0.1)
    assert not health.ok and not health.failed, health
    assert health.message.startswith(f"no answer from {contexts[0].node.address}:2379/health"
                                     " within 2 s"), health
    ROLE.stop(contexts[0])
    assert etcd_processes(contexts[0]) == []


@pytest.mark.parametrize("port", [2379, 2380])
def test_taken_port(provider: LocalProvider, port: int) -> None:
    contexts = make_contexts(provider, "busy", 3)
    for ctx in contexts:
        ROLE.configure(ctx)
    address = contexts[1].node.address
    with socket.socket() as squatter:
        # an earlier test's member on this address may have left TIME_WAIT connections
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((address, port))
        squatter.listen()
        with pytest.raises(NodeBootstrapError, match=f"port {port} on {address} is already "
                                                     "in use") as caught:
            ROLE.start(contexts[1])
    assert caught.value.node == contexts[1].node.name
    assert caught.value.role == "etcd"
    assert etcd_processes(contexts[1]) == []


def test_exited_member_reports_its_error(provider: LocalProvider) -> None:
    # each value is valid on its own, together etcd refuses them: it starts, then exits
    ctx = make_contexts(provider, "broken", 1, {"etcd": {"heartbeat-interval": 1000}})[0]
    ROLE.configure(ctx)
    ROLE.start(ctx)
    deadline = time.monotonic() + 30
    while not (health := ROLE.health(ctx)).failed:
        assert time.monotonic() < deadline, f"etcd did not exit: {health}"
        time.sleep(0.2)
    assert not health.ok
    assert health.message.startswith("etcd process is not running; its log says:")
    # etcd's own words, from its JSON log lines
    assert "failed to verify flags: --election-timeout[1000ms] should be at least as 5 times " \
           "as --heartbeat-interval[1000ms]" in health.message, health
    print(f"\n{health.message}")


def test_rendered_settings_reach_the_process(provider: LocalProvider) -> None:
    configuration = {"etcd": {"heartbeat-interval": 50, "election-timeout": "600",
                              "snapshot-count": 5000, "auto-compaction-mode": "revision",
                              "auto-compaction-retention": "1000", "pre-vote": True},
                     "zookeeper": {"tickTime": 1000}}
    trio = make_contexts(provider, "conf", 3, configuration)
    argv = ROLE.command(trio[1])
    node, address = trio[1].node.name, trio[1].node.address
    for flag in ("--heartbeat-interval=50", "--election-timeout=600",
                 "--snapshot-count=5000", "--auto-compaction-mode=revision",
                 "--auto-compaction-retention=1000", "--pre-vote=true",
                 f"--name={node}", f"--data-dir={trio[1].transport.path('data')}",
                 f"--listen-peer-urls=http://{address}:2380",
                 f"--initial-advertise-peer-urls=http://{address}:2380",
                 f"--listen-client-urls=http://{address}:2379",
                 f"--advertise-client-urls=http://{address}:2379",
                 "--initial-cluster=" + ",".join(f"{c.node.name}=http://{c.node.address}:2380"
                                                 for c in trio),
                 "--initial-cluster-state=new", "--initial-cluster-token=ndovu-conf"):
        assert flag in argv, (flag, argv)
    assert not [a for a in argv if "tickTime" in a or "quota" in a]
    ROLE.configure(trio[1])
    assert shlex.split(trio[1].transport.read_file("conf/etcd.args")) == argv

    # etcd itself accepts them: a single member with the same settings becomes healthy
    solo = make_contexts(provider, "solo", 1, configuration)[0]
    ROLE.configure(solo)
    ROLE.start(solo)
    wait_healthy([solo])
    (pid,) = etcd_processes(solo)
    assert cmdline(pid) == ROLE.command(solo)
    assert "--initial-cluster=" f"{solo.node.name}=http://{solo.node.address}:2380" \
        in cmdline(pid)
    ROLE.stop(solo)
    assert etcd_processes(solo) == []


@pytest.mark.parametrize("settings", [
    {"heartbeat-interval": 0}, {"election-timeout": "soon"}, {"snapshot-count": True},
    {"auto-compaction-mode": "hourly"}, {"pre-vote": "maybe"}, {"quota-backend-bytes": -1},
])
def test_invalid_configuration(provider: LocalProvider, settings: dict) -> None:
    """The API refuses these first; the role still refuses to render or run them."""
    ctx = make_contexts(provider, "bad", 1, {"etcd": settings})[0]
    key = next(iter(settings))
    with pytest.raises(NodeBootstrapError, match=f"etcd.{key}") as caught:
        ROLE.configure(ctx)
    assert caught.value.role == "etcd" and caught.value.node == ctx.node.name
    with pytest.raises(NodeBootstrapError, match=f"etcd.{key}"):
        ROLE.start(ctx)
    assert etcd_processes(ctx) == []


def test_node_outside_the_members_is_refused(provider: LocalProvider) -> None:
    ctx = make_contexts(provider, "stray", 1)[0]
    stray = RoleContext(cluster=ctx.cluster, node=ctx.node, transport=ctx.transport,
                        members={"etcd": ()})
    with pytest.raises(NodeBootstrapError, match="not among the etcd members"):
        ROLE.configure(stray)


def test_builtin_roles() -> None:
    roles = builtin_roles()
    assert "etcd" in roles and "zookeeper" in roles
    role = roles["etcd"]
    assert role.provides == {"etcd"} and role.requires == frozenset()
    assert role.config_section == "etcd" and "election-timeout" in role.settings
    assert role.unsupported_reason() is None
