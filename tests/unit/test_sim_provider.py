"""The sim provider's own promises: a seeded failure model, an enforced concurrency limit,
an inventory that outlives the process and is shared by engines on one host, options
checked up front; the sim_service role; and where the built-in ``sim`` type may run.

The Provider/Transport contract itself is checked in tests/conformance."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ndovu.api.app import create_app
from ndovu.api.deps import ApiContext
from ndovu.catalog import Catalog
from ndovu.engine.planner import role_support, validate_plan
from ndovu.errors import ProviderError
from ndovu.providers.base import NodeRequest
from ndovu.providers.registry import make_provider
from ndovu.providers.sim import SimProvider
from ndovu.roles.base import Member, RoleContext
from ndovu.roles.registry import builtin_roles
from ndovu.roles.sim import SimServiceRole
from ndovu.store import Store
from tests.memory_stack import _logged_in


def sim(state: Path, **options: object) -> SimProvider:
    return SimProvider(state, **{"boot_latency_s": 0, "api_latency_s": 0, **options})


def request(name: str, cluster: str = "c") -> NodeRequest:
    return NodeRequest(cluster, name, "g", int(name.rsplit("-", 1)[1]), 1, 1024, 10)


def failures(provider: SimProvider, names: list[str], tries: int = 3) -> list[tuple[str, int]]:
    """(node, attempt) of every create that failed, trying each node ``tries`` times."""
    failed = []
    for name in names:
        for attempt in range(1, tries + 1):
            try:
                provider.ensure_node(request(name))
            except ProviderError as exc:
                assert exc.retryable and "503" in exc.message
                failed.append((name, attempt))
            else:
                break
    return failed


def test_the_failure_model_is_seeded(tmp_path: Path) -> None:
    names = [f"c-g-{i}" for i in range(30)]
    runs = [failures(sim(tmp_path / run, failure_rate=0.4, seed=seed), names)
            for run, seed in (("a", 7), ("b", 7), ("c", 8))]
    assert runs[0] == runs[1]  # the same seed fails the same calls
    assert runs[0] != runs[2]
    assert 0 < len(runs[0]) < 30
    assert all(sim(tmp_path / "d", failure_rate=0).ensure_node(request(n)) for n in names)


def test_fail_and_refuse_nodes(tmp_path: Path) -> None:
    provider = sim(tmp_path, fail_nodes="c-g-1, x-*", refuse_nodes=["c-g-2"])
    for _ in range(5):  # every attempt
        with pytest.raises(ProviderError, match="no capacity") as failed:
            provider.ensure_node(request("c-g-1"))
        assert failed.value.retryable
    with pytest.raises(ProviderError, match="no flavor fits") as refused:
        provider.ensure_node(request("c-g-2"))
    assert not refused.value.retryable
    assert provider.ensure_node(request("c-g-3")).powered_on


def test_more_calls_than_the_limit_wait_for_a_slot(tmp_path: Path) -> None:
    provider = sim(tmp_path, max_parallel=3, api_latency_s=0.02)
    inside, peak, lock = 0, 0, threading.Lock()
    create = provider.inventory.create

    def counted(req: NodeRequest):  # type: ignore[no-untyped-def]
        nonlocal inside, peak
        with lock:
            inside += 1
            peak = max(peak, inside)
        time.sleep(0.02)  # hold the slot a while, as a slow cloud does
        with lock:
            inside -= 1
        return create(req)

    provider.inventory.create = counted  # type: ignore[method-assign]
    threads = [threading.Thread(target=provider.ensure_node, args=(request(f"c-g-{i}"),))
               for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 3 and len(provider.list_nodes("c")) == 12


def test_the_inventory_outlives_the_process_and_is_shared(tmp_path: Path) -> None:
    first = sim(tmp_path)
    node = first.ensure_node(request("c-g-0"))
    transport = first.transport(node)
    transport.write_file("conf/a", "1\n")
    transport.start_service("svc", ["svc"])
    # a restarted engine (a new provider on the same state dir) finds all of it
    again = sim(tmp_path)
    assert again.list_nodes("c") == [node]
    assert again.transport(node).read_file("conf/a") == "1\n"
    assert again.transport(node).running_services() == ["svc"]
    assert (tmp_path / "sim-inventory.db").exists()
    # an in-memory inventory is this provider's alone
    assert sim(tmp_path, inventory=":memory:").list_nodes("c") == []


def test_two_engines_sharing_the_inventory_never_share_an_address(tmp_path: Path) -> None:
    providers = [sim(tmp_path), sim(tmp_path)]
    made: list[str] = []

    def create(provider: SimProvider, cluster: str) -> None:
        for i in range(25):
            made.append(provider.ensure_node(request(f"{cluster}-g-{i}", cluster)).address)

    threads = [threading.Thread(target=create, args=(p, c))
               for p, c in zip(providers, ("a", "b"), strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 50 and len(set(made)) == 50
    assert all(a.startswith("10.") for a in made)
    # a node name is one machine: another cluster cannot take it
    with pytest.raises(ProviderError, match="belongs to cluster a"):
        providers[1].ensure_node(request("a-g-0", "b"))


def test_power_off_and_scale_end_the_services_and_keep_the_files(tmp_path: Path) -> None:
    provider = sim(tmp_path)
    node = provider.ensure_node(request("c-g-0"))
    transport = provider.transport(node)
    transport.write_file("data", "kept")
    transport.start_service("svc", ["svc"])
    scaled = provider.scale_node("c", node.name, 4, 8192)
    assert (scaled.cpu, scaled.memory_mb, scaled.address) == (4, 8192, node.address)
    assert transport.running_services() == []  # rebooted to change its size
    transport.start_service("svc", ["svc"])
    provider.power_off("c", node.name)
    assert not transport.service_running("svc") and transport.read_file("data") == "kept"
    assert transport.run(["ls"]).returncode == 127  # simulated: nothing is executed


@pytest.mark.parametrize("options, text", [
    ({"failure_rate": 2}, "failure_rate must be a number between 0 and 1"),
    ({"max_parallel": 0}, "max_parallel must be a number of at least 1"),
    ({"boot_latency_s": "soon"}, "boot_latency_s must be a number"),
    ({"subnet": "10.0.0.0/33"}, "subnet '10.0.0.0/33' is not valid"),
])
def test_bad_options_are_refused_with_their_name(tmp_path: Path, options: dict[str, object],
                                                 text: str) -> None:
    with pytest.raises(ProviderError, match=text):
        SimProvider(tmp_path, **options)  # type: ignore[arg-type]


def test_options_from_the_environment_are_text(tmp_path: Path) -> None:
    provider = make_provider("sim", tmp_path, boot_latency_s="0", api_latency_s="0.001",
                             max_parallel="7", failure_rate="0.5", seed="3",
                             fail_nodes="a-*,b-*", inventory=":memory:")
    assert isinstance(provider, SimProvider)
    assert (provider.max_parallel, provider.failure_rate, provider.seed) == (7, 0.5, 3)
    assert provider.fail_nodes == ("a-*", "b-*")
    with pytest.raises(ProviderError, match="invalid option for the sim provider") as bad:
        make_provider("sim", tmp_path, bogus=1)
    assert "bogus" in bad.value.message
    assert bad.value.hint and "the sim provider takes boot_latency_s" in bad.value.hint


def test_sim_service_is_healthy_once_its_start_latency_has_passed(tmp_path: Path) -> None:
    provider = sim(tmp_path)
    node = provider.ensure_node(request("c-g-0"))
    role = SimServiceRole()

    def ctx(latency_ms: int) -> RoleContext:
        return RoleContext("c", Member(node.name, "g", 0, node.address),
                           provider.transport(node), {},
                           {"sim_service": {"start_latency_ms": latency_ms}})

    assert role.health(ctx(0)).failed  # not started: it does not run
    role.start(ctx(0))
    assert role.health(ctx(0)).ok
    slow = role.health(ctx(3_600_000))
    assert not slow.ok and not slow.failed and "starting" in slow.message
    role.stop(ctx(0))
    assert role.health(ctx(0)).failed


def test_the_sim_type_runs_only_on_the_sim_provider(tmp_path: Path) -> None:
    roles = builtin_roles()
    sim_type = role_support(["sim_service"], roles, "local", {"local": True, "sim": False})
    assert sim_type["runsOn"] == ["sim"] and not sim_type["runnableHere"]
    assert "runs only on the sim provider" in sim_type["reason"]
    assert "local provider" in sim_type["reason"]
    # and real software cannot run on simulated nodes
    zookeeper = role_support(["zookeeper"], roles, "sim", {"local": True, "sim": False})
    assert zookeeper["runsOn"] == ["local"] and not zookeeper["runnableHere"]
    assert "simulated" in zookeeper["reason"]

    # a create on a local server is refused up front, naming why
    store = Store(f"sqlite:///{tmp_path / 'ndovu.db'}")
    store.migrate()
    app = create_app(ApiContext(
        store=store, catalog=Catalog.load(),
        validate_plan=lambda plan: validate_plan(plan, roles, "local"),
        role_support=lambda names: role_support(names, roles, "local",
                                                {"local": True, "sim": False}),
        notify=lambda: None))
    client = _logged_in(TestClient(app), store)
    shown = client.get("/v1/catalog/sim").json()
    assert shown["runsOn"] == ["sim"] and shown["runnableHere"] is False
    refused = client.post("/v1/clusters", json={"name": "s", "type": "sim"})
    assert refused.status_code == 422, refused.text
    assert "runs only on the sim provider" in refused.json()["error"]["message"]
    assert client.get("/v1/clusters").json()["clusters"] == []
    # instance counts up to 2,000
    group = Catalog.load().get("sim").spec.groups[0]
    assert (group.instance_num.minimum, group.instance_num.maximum) == (1, 2000)
    store.dispose()
