"""The Provider and Transport contract, run against every implementation.

A new provider (vsphere, openstack, sim) joins by adding a factory to ``PROVIDERS``; the
engine relies on nothing that is not checked here. The in-memory double is included so
the engine's fast tests stand on a provider that honours the same contract."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ndovu.errors import ProviderError
from ndovu.providers.base import NodeRequest, Provider
from ndovu.providers.local import LocalProvider
from ndovu.providers.sim import SimProvider
from tests.engine_doubles import MemoryProvider
from tests.helpers import wait_until

# name -> (factory over a state dir, whether a second instance sees the first one's nodes)
PROVIDERS: dict[str, tuple[Callable[[Path], Provider], bool]] = {
    "local": (lambda d: LocalProvider(d, subnet="127.79.0.0/16"), True),
    "memory": (lambda d: MemoryProvider(), False),
    "sim": (lambda d: SimProvider(d, boot_latency_s=0, api_latency_s=0), True),
    "sim-in-memory": (lambda d: SimProvider(d, boot_latency_s=0, api_latency_s=0,
                                            inventory=":memory:"), False),
}


@pytest.fixture(params=sorted(PROVIDERS))
def provider_factory(request: pytest.FixtureRequest, tmp_path: Path
                     ) -> Iterator[tuple[Callable[[], Provider], bool]]:
    make, persistent = PROVIDERS[request.param]
    made: list[Provider] = []

    def factory() -> Provider:
        made.append(make(tmp_path / "state"))
        return made[-1]

    yield factory, persistent
    for provider in made[:1]:
        for cluster in ("c1", "c2"):
            for node in provider.list_nodes(cluster):
                provider.delete_node(cluster, node.name)


def request(cluster: str, group: str, index: int) -> NodeRequest:
    return NodeRequest(cluster, f"{cluster}-{group}-{index}", group, index, 1, 1024, 10)


def test_ensure_node_is_idempotent_by_name(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    first = provider.ensure_node(request("c1", "g", 0))
    again = provider.ensure_node(request("c1", "g", 0))
    assert again == first
    assert [n.name for n in provider.list_nodes("c1")] == ["c1-g-0"]
    assert first.powered_on and first.address and first.provider_id


def test_nodes_get_distinct_addresses_and_are_listed_per_cluster(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    made = [provider.ensure_node(request(c, "g", i)) for c in ("c1", "c2") for i in range(3)]
    assert len({n.address for n in made}) == 6
    assert sorted(n.name for n in provider.list_nodes("c1")) == [f"c1-g-{i}" for i in range(3)]
    assert all(n.cluster == "c2" for n in provider.list_nodes("c2"))
    assert provider.list_nodes("nobody") == []


def test_delete_node_is_idempotent(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    provider.ensure_node(request("c1", "g", 0))
    provider.delete_node("c1", "c1-g-0")
    provider.delete_node("c1", "c1-g-0")
    provider.delete_node("c1", "never-existed")
    assert provider.list_nodes("c1") == []


def test_a_forgotten_node_is_never_listed_again_and_what_may_be_left_is_said(
        provider_factory) -> None:
    factory, persistent = provider_factory
    provider = factory()
    provider.ensure_node(request("c1", "g", 0))
    provider.ensure_node(request("c1", "g", 1))
    left = provider.forget_node("c1", "c1-g-0")
    assert isinstance(left, str) and left
    assert [n.name for n in provider.list_nodes("c1")] == ["c1-g-1"]
    if persistent:  # nor by the next server process: a new cluster "c1" adopts nothing
        assert [n.name for n in factory().list_nodes("c1")] == ["c1-g-1"]


def test_power_off_and_on_are_reported(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    provider.ensure_node(request("c1", "g", 0))
    assert provider.power_off("c1", "c1-g-0").powered_on is False
    assert provider.list_nodes("c1")[0].powered_on is False
    assert provider.power_on("c1", "c1-g-0").powered_on is True
    assert provider.list_nodes("c1")[0].powered_on is True


@pytest.mark.parametrize("name", sorted(n for n, (_, persistent) in PROVIDERS.items()
                                         if persistent))
def test_a_new_instance_finds_the_nodes_of_the_last(name: str, tmp_path: Path) -> None:
    """Persistent providers only: how a restarted server re-finds its nodes."""
    make, _ = PROVIDERS[name]
    first = make(tmp_path / "state")
    made = first.ensure_node(request("c1", "g", 0))
    try:
        assert make(tmp_path / "state").list_nodes("c1") == [made]
    finally:
        first.delete_node("c1", made.name)


def test_transport_files_and_services(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    node = provider.ensure_node(request("c1", "g", 0))
    transport = provider.transport(node)
    assert transport.address == node.address
    assert transport.read_file("conf/x.cfg") is None
    transport.write_file("conf/x.cfg", "a=1\n")
    assert transport.read_file("conf/x.cfg") == "a=1\n"
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    transport.start_service("svc", argv)
    transport.start_service("svc", argv)  # idempotent
    wait_until(lambda: transport.service_running("svc"), timeout=10, what="svc to run")
    assert transport.running_services() == ["svc"]
    transport.stop_service("svc")
    transport.stop_service("svc")  # idempotent
    assert not transport.service_running("svc")
    assert transport.running_services() == []


def test_power_off_stops_the_nodes_services_and_keeps_its_files(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    node = provider.ensure_node(request("c1", "g", 0))
    transport = provider.transport(node)
    transport.write_file("data/state", "kept\n")
    transport.start_service("svc", [sys.executable, "-c", "import time; time.sleep(60)"])
    wait_until(lambda: transport.service_running("svc"), timeout=10, what="svc to run")
    provider.power_off("c1", node.name)
    assert not transport.service_running("svc")
    on = provider.power_on("c1", node.name)
    assert on.address == node.address  # the same node comes back
    assert provider.transport(on).read_file("data/state") == "kept\n"


def test_scaling_is_done_or_refused_with_a_reason(provider_factory) -> None:
    """A provider says whether it can give a node other CPU and memory; one that cannot
    says why (the API shows it), one that can reports the new size."""
    factory, _ = provider_factory
    provider = factory()
    node = provider.ensure_node(request("c1", "g", 0))
    assert isinstance(provider.can_scale_nodes, bool)
    if not provider.can_scale_nodes:
        assert provider.scale_refusal and len(provider.scale_refusal) > 20
        with pytest.raises(ProviderError, match="cannot"):
            provider.scale_node("c1", node.name, 2, 2048)
        return
    assert provider.scale_refusal is None
    scaled = provider.scale_node("c1", node.name, 2, 2048)
    again = provider.scale_node("c1", node.name, 2, 2048)  # idempotent
    assert (scaled.cpu, scaled.memory_mb) == (again.cpu, again.memory_mb) == (2, 2048)
    assert scaled.address == node.address and scaled.powered_on
    listed = provider.list_nodes("c1")[0]
    assert (listed.cpu, listed.memory_mb) == (2, 2048)


def test_a_network_pool_gives_addresses_inside_it_until_none_is_left(provider_factory) -> None:
    factory, _ = provider_factory
    provider = factory()
    pool = (("127.78.5.1", "127.78.5.2"),)
    made = [provider.ensure_node(NodeRequest("c1", f"c1-g-{i}", "g", i, 1, 1024, 10,
                                             address_pool=pool)) for i in range(2)]
    assert sorted(n.address for n in made) == ["127.78.5.1", "127.78.5.2"]
    # idempotent: the same node keeps its address
    assert provider.ensure_node(NodeRequest("c1", "c1-g-0", "g", 0, 1, 1024, 10,
                                            address_pool=pool)) == made[0]
    with pytest.raises(ProviderError, match="no free address"):
        provider.ensure_node(NodeRequest("c1", "c1-g-2", "g", 2, 1, 1024, 10,
                                         address_pool=pool))
    # without a pool the provider's own addresses are used, as before
    assert provider.ensure_node(request("c2", "g", 0)).address not in {"127.78.5.1",
                                                                       "127.78.5.2"}
    assert provider.address_space is None or provider.address_space == "127.0.0.0/8"
