"""The OpenStack provider against the real test cloud (Keystone, Nova, Neutron, Glance,
Placement; Nova's fake compute driver below, so servers boot nowhere): ports made before
the servers, the cluster's key pair, security group and server groups, floating IPs,
adoption after a crash, the cloud's refusals in its own words, and nothing left after a
delete. The nodes' software and SSH are covered where servers are machines (the test
bed's compute driver)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openstack.connection import Connection

from ndovu.errors import NodePending, ProviderError
from ndovu.providers.base import NodeInfo, NodeRequest
from ndovu.providers.openstack import KeyPair, OpenStackProvider, generate_key_pair
from ndovu.spec.model import INSTANCE_SIZES, InstanceType
from ndovu.store import Store
from ndovu.store.cluster_keys import StoreClusterKeys
from ndovu.transports.ssh import SshConnections
from tests.openstack.cloud import IMAGE, PUBLIC_NETWORK, Cloud

pytestmark = pytest.mark.openstack
SMALL = INSTANCE_SIZES[InstanceType.SMALL]
BOOT_TIMEOUT = 60


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[StoreClusterKeys[KeyPair]]:
    store = Store(f"sqlite:///{tmp_path / 'ndovu.db'}")
    store.migrate()
    yield StoreClusterKeys(store, generate_key_pair, KeyPair)
    store.dispose()


@pytest.fixture
def make_provider(cloud: Cloud, project: Connection,
                  keys: StoreClusterKeys[KeyPair]) -> Iterator[object]:
    cloud.make_network(project, "nodes", "10.20.0.0/24")
    connections = SshConnections()

    def make(**options: object) -> OpenStackProvider:
        return OpenStackProvider(**{"keys": keys, "connections": connections,
                                    "network": "nodes", "image": IMAGE,
                                    "connection": cloud.connect(), **options})

    yield make
    connections.close()


def _request(name: str, group: str = "zk", index: int = 0, cluster: str = "c") -> NodeRequest:
    # 20 GB of storage: m1.small's disk, which the SMALL type is mapped to below
    return NodeRequest(cluster, name, group, index, SMALL.cpu, SMALL.memory_mb, 20)


def _boot(provider: OpenStackProvider, request: NodeRequest) -> NodeInfo:
    """ensure_node as the engine calls it: again, after a while, while the server boots."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        try:
            return provider.ensure_node(request)
        except NodePending as pending:
            assert time.monotonic() < deadline, pending.message
            time.sleep(pending.check_after_s)


def _left_of(conn: Connection, cluster: str = "c") -> dict[str, list[str]]:
    """What the project holds that names the cluster."""
    return {
        "servers": [s.name for s in conn.compute.servers()],
        "ports": [p.name for p in conn.network.ports() if p.name.startswith(f"{cluster}-")],
        "floating ips": [ip.floating_ip_address for ip in conn.network.ips(
            project_id=conn.current_project_id)],
        "server groups": [g.name for g in conn.compute.server_groups()],
        "security groups": [g.name for g in conn.network.security_groups(
            project_id=conn.current_project_id) if g.name != "default"],
        "key pairs": [k.name for k in conn.compute.keypairs()],
    }


NOTHING: dict[str, list[str]] = {what: [] for what in (
    "servers", "ports", "floating ips", "server groups", "security groups", "key pairs")}


def test_nodes_boot_on_their_own_ports_apart_and_leave_nothing_behind(
        cloud: Cloud, project: Connection, make_provider, keys) -> None:
    provider = make_provider(server_group_policy="anti-affinity", flavors={"SMALL": "m1.small"},
                             floating_network=PUBLIC_NETWORK, floating_ip_groups=["zk"])
    # one after the other: anti-affinity members booted side by side can land on one
    # host first and be rescheduled (test_cloud.py)
    infos = [_boot(provider, _request(f"c-zk-{i}", index=i)) for i in range(2)]
    worker = _boot(provider, _request("c-worker-0", group="worker"))

    admin = cloud.admin
    servers = {i.name: admin.compute.get_server(i.provider_id) for i in [*infos, worker]}
    assert sorted(s.compute_host for name, s in servers.items() if "zk" in name) == [
        "compute-1", "compute-2"]
    for info in [*infos, worker]:
        server = servers[info.name]
        port = next(project.network.ports(name=f"{info.name}-port0"))
        assert (server.status, port.device_id, info.address) == (
            "ACTIVE", server.id, port.fixed_ips[0]["ip_address"])
        assert server.flavor["original_name"] == "m1.small"  # SMALL, as configured
        assert server.key_name == "ndovu-c"
        assert server.metadata["ndovu_cluster"] == "c"
        assert info.powered_on and (info.group, info.index) == (
            "zk" if "zk" in info.name else "worker", int(info.name[-1]))
    # the key Nova has is the cluster's, kept by the store
    assert project.compute.get_keypair("ndovu-c").public_key == keys.key_pair("c").public_key
    # floating IPs for the group that asked only
    floating = {ip.port_id for ip in project.network.ips()}
    assert floating == {next(project.network.ports(name=f"c-zk-{i}-port0")).id
                        for i in range(2)}
    # the security group lets the cluster's ports reach each other, and ndovu in
    group = project.network.find_security_group("ndovu-c")
    rules = list(project.network.security_group_rules(security_group_id=group.id,
                                                       direction="ingress"))
    assert {r.remote_group_id for r in rules if r.remote_group_id} == {group.id}
    assert {r.remote_ip_prefix for r in rules if r.remote_ip_prefix} == {"10.20.0.0/24"}

    # asking again makes nothing new; listing finds all three
    assert _boot(provider, _request("c-zk-0")).provider_id == infos[0].provider_id
    assert [n.name for n in provider.list_nodes("c")] == ["c-worker-0", "c-zk-0", "c-zk-1"]
    assert len(list(project.compute.servers())) == 3

    off = provider.power_off("c", "c-zk-1")
    assert not off.powered_on and project.compute.get_server(off.provider_id).status == (
        "SHUTOFF")
    assert provider.power_on("c", "c-zk-1").powered_on

    for info in [*infos, worker]:
        provider.delete_node("c", info.name)
        provider.delete_node("c", info.name)  # idempotent
    assert _left_of(project)["servers"] == _left_of(project)["ports"] == []
    provider.release_cluster("c")
    provider.release_cluster("c")
    assert _left_of(project) == NOTHING
    assert keys.host_key("c", "c-zk-0") is None


def test_a_port_left_by_a_crash_is_used_not_doubled(project: Connection, make_provider) -> None:
    provider = make_provider()
    network = project.network.find_network("nodes")
    # a pass made the port and the engine died before booting the server
    left = project.network.create_port(name="c-zk-0-port0", network_id=network.id)
    info = _boot(provider, _request("c-zk-0"))
    assert [p.id for p in project.network.ports(name="c-zk-0-port0")] == [left.id]
    assert info.address == left.fixed_ips[0]["ip_address"]
    # a second provider (another engine, or one started after a crash) adopts the server
    again = make_provider()
    assert [n.provider_id for n in again.list_nodes("c")] == [info.provider_id]
    assert _boot(again, _request("c-zk-0")).provider_id == info.provider_id
    again.delete_node("c", "c-zk-0")
    again.release_cluster("c")
    assert _left_of(project) == NOTHING


def test_a_forgotten_node_is_never_listed_again(project: Connection, make_provider) -> None:
    provider = make_provider()
    kept = _boot(provider, _request("c-zk-0"))
    _boot(provider, _request("c-zk-1", index=1))
    left = provider.forget_node("c", "c-zk-1")
    assert "server c-zk-1 and port c-zk-1-port0" in left and "openstack server show" in left
    assert [n.name for n in provider.list_nodes("c")] == ["c-zk-0"]
    assert [n.name for n in make_provider().list_nodes("c")] == ["c-zk-0"]
    # the cloud keeps it for the operator to look at
    assert sorted(s.name for s in project.compute.servers()) == ["c-zk-0", "c-zk-1"]
    assert kept.provider_id in {s.id for s in project.compute.servers()}


def test_the_clouds_refusals_in_its_own_words_leave_nothing_half_made(
        cloud: Cloud, project: Connection, make_provider) -> None:
    cloud.set_compute_quotas(instances=0)
    with pytest.raises(ProviderError) as refused:
        _boot(make_provider(), _request("c-zk-0"))
    message = refused.value.message
    assert "Quota exceeded for instances" in message and "(request req-" in message, message
    assert not refused.value.retryable and refused.value.node == "c-zk-0"
    assert cloud.passwords["ndovu"] not in message
    assert _left_of(project)["servers"] == _left_of(project)["ports"] == []
    cloud.lift_quotas()
    make_provider().release_cluster("c")  # as the engine does when the cluster is deleted
    assert _left_of(project) == NOTHING

    with pytest.raises(ProviderError) as no_image:
        _boot(make_provider(image="debian-99"), _request("c-zk-0"))
    assert "no image 'debian-99'" in no_image.value.message
    assert "'image' option" in (no_image.value.hint or "")

    with pytest.raises(ProviderError) as no_flavor:
        _boot(make_provider(flavor="m9.huge"), _request("c-zk-0"))
    assert "no flavor 'm9.huge'" in no_flavor.value.message

    with pytest.raises(ProviderError) as too_big:
        _boot(make_provider(), NodeRequest("c", "c-zk-0", "zk", 0, 64, 10**6, 25))
    assert "no flavor has 64 vCPUs, 1000000 MB and a 25 GB disk" in too_big.value.message
    assert "m1.xlarge (8 vCPU, 16384 MB, 160 GB)" in too_big.value.message

    # storage is the flavor's disk: m1.tiny's 1 GB cannot hold 20 GB
    with pytest.raises(ProviderError) as small_disk:
        _boot(make_provider(flavor="m1.tiny"), _request("c-zk-0"))
    assert "asks for 20 GB of storage, and flavor m1.tiny's disk has 1 GB" in (
        small_disk.value.message)
    # the flavor chosen has the disk: 1 vCPU and 1 GB of memory, but 100 GB of storage
    # (m1.large's disk has 80 GB, m1.xlarge's 160)
    chooser = make_provider()
    big_disk = _boot(chooser, NodeRequest("c", "c-zk-0", "zk", 0, 1, 1024, 100))
    assert project.compute.get_server(big_disk.provider_id).flavor["original_name"] == (
        "m1.xlarge")
    chooser.delete_node("c", "c-zk-0")
    chooser.release_cluster("c")

    # three members kept strictly apart on two hosts: Nova finds no valid host for one
    provider = make_provider(server_group_policy="anti-affinity")
    for i in range(2):
        _boot(provider, _request(f"d-zk-{i}", index=i, cluster="d"))
    with pytest.raises(ProviderError) as no_host:
        _boot(provider, _request("d-zk-2", index=2, cluster="d"))
    assert "No valid host was found" in no_host.value.message
    assert "server_group_policy" in (no_host.value.hint or "")
    assert sorted(_left_of(project, "d")["servers"]) == ["d-zk-0", "d-zk-1"]
    assert sorted(_left_of(project, "d")["ports"]) == ["d-zk-0-port0", "d-zk-1-port0"]
    for i in range(2):
        provider.delete_node("d", f"d-zk-{i}")
    provider.release_cluster("d")
    assert _left_of(project, "d") == NOTHING


def test_options_that_cannot_work_are_refused_at_start(make_provider) -> None:
    with pytest.raises(ProviderError, match="server_group_policy 'apart'"):
        make_provider(server_group_policy="apart")
    with pytest.raises(ProviderError, match=r"unknown instance types \['HUGE'\]"):
        make_provider(flavors={"HUGE": "m1.xlarge"})
    with pytest.raises(ProviderError, match="floating_ip_groups needs floating_network"):
        make_provider(floating_ip_groups=["zk"])
