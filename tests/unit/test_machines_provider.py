"""The machines provider over the real store inventory (SQLite): what it refuses, what it
lists, and (with the SSH transport) that an unreachable machine is named in the error and
stays with its node, so the engine's retry adopts it instead of taking another.

A cluster on real hosts over SSH is the end-to-end test's (tests/integration)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from ndovu.errors import ProviderError
from ndovu.providers.base import NodeRequest
from ndovu.providers.machines import Machine, MachinesProvider
from ndovu.providers.registry import KNOWN_PROVIDERS, make_provider
from ndovu.store import Store
from ndovu.store import machines as store_machines
from ndovu.store.machines import StoreInventory
from ndovu.transports.base import TransportError
from tests.databases import database_url
from tests.helpers import free_port

KEY = asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh").decode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(database_url(tmp_path, "sqlite"))
    store.migrate()
    yield store
    store.dispose()


def add(store: Store, name: str, address: str, port: int = 22) -> None:
    with store.session() as s:
        store_machines.add_machine(s, name=name, address=address, port=port, user="root",
                                   private_key=KEY, labels={})


def request(node: str = "c1-g-0", cluster: str = "c1", **changes: Any) -> NodeRequest:
    values: dict[str, Any] = {"cluster": cluster, "name": node, "group": "g",
                              "index": int(node.rsplit("-", 1)[1]), "cpu": 1,
                              "memory_mb": 512, "storage_gb": 1}
    return NodeRequest(**values | changes)


def provider(store: Store, connections: Any = None, **options: Any) -> MachinesProvider:
    # connections=None: the verbs these tests call never open one
    return MachinesProvider(StoreInventory(store, Machine), connections, **options)


def test_it_is_known_and_says_what_it_cannot_do(store: Store) -> None:
    assert "machines" in KNOWN_PROVIDERS
    p = provider(store)
    assert (p.name, p.can_scale_nodes, p.address_space, p.max_parallel) == (
        "machines", False, None, 16)
    assert "resize the node group" in (p.scale_refusal or "")
    assert "key" in (p.password_refusal or "")
    with pytest.raises(ProviderError, match="resize the node group"):
        p.scale_node("c1", "c1-g-0", 4, 4096)
    with pytest.raises(ProviderError, match="node_root"):
        provider(store, node_root="relative/path")
    with pytest.raises(ProviderError, match="invalid option for the machines provider"):
        make_provider("machines", Path("/nonexistent"), inventory=StoreInventory(store, Machine),
                      connections=None, subnet="10.0.0.0/8")


def test_a_node_asking_for_network_addresses_is_refused_before_any_claim(
        store: Store) -> None:
    add(store, "m1", "10.0.0.1")
    p = provider(store)
    with pytest.raises(ProviderError) as refused:
        p.ensure_node(request(address_pool=(("10.1.0.1", "10.1.0.9"),)))
    assert "keeps the address of the machine" in refused.value.message
    assert not refused.value.retryable
    assert p.list_nodes("c1") == []


def test_no_free_machine_is_a_clear_permanent_error(store: Store) -> None:
    with pytest.raises(ProviderError) as refused:
        provider(store).ensure_node(request())
    assert "no free machine for node c1-g-0" in refused.value.message
    assert not refused.value.retryable


def test_nodes_are_listed_from_their_machines_and_another_clusters_are_left_alone(
        store: Store) -> None:
    add(store, "m1", "10.0.0.1")
    add(store, "m2", "10.0.0.2")
    inv = StoreInventory(store, Machine)
    inv.claim("c1", "c1-g-1", "g", 1)
    inv.claim("c2", "c2-g-0", "g", 0)
    inv.set_power("c1", "c1-g-1", True)
    p = provider(store)
    [node] = p.list_nodes("c1")
    assert (node.name, node.group, node.index, node.provider_id, node.address,
            node.powered_on, node.cpu) == ("c1-g-1", "g", 1, "m1", "10.0.0.1", True, None)
    with pytest.raises(ProviderError, match="belongs to cluster c2, not c1"):
        p.delete_node("c1", "c2-g-0")
    p.delete_node("c1", "c1-g-7")  # never made: nothing to do
    assert [n.name for n in p.list_nodes("c2")] == ["c2-g-0"]


def test_an_unreachable_machine_is_named_and_keeps_its_node(store: Store) -> None:
    ssh = pytest.importorskip("ndovu.transports.ssh")
    port = free_port()  # nothing listens there
    add(store, "m1", "127.0.0.1", port)
    connections = ssh.SshConnections()
    try:
        p = provider(store, connections, reach_timeout_s=1, node_root="/tmp/ndovu-nodes")
        with pytest.raises(TransportError) as unreachable:
            p.ensure_node(request())
        assert "machine m1 (127.0.0.1)" in unreachable.value.message
        assert unreachable.value.retryable
        # recorded before the remote work: the retry finds it (off, so it is powered on)
        [node] = p.list_nodes("c1")
        assert (node.provider_id, node.powered_on) == ("m1", False)
        with pytest.raises(TransportError, match=r"machine m1 \(127\.0\.0\.1\)"):
            p.power_on("c1", "c1-g-0")
        with pytest.raises(TransportError, match=r"machine m1 \(127\.0\.0\.1\)"):
            p.delete_node("c1", "c1-g-0")
        assert [n.name for n in p.list_nodes("c1")] == ["c1-g-0"]  # not released
    finally:
        connections.close()
