"""What goes wrong, said clearly: invalid properties fail validation before anything is
created; a refused cluster password and a cluster that fails to provision fail the
create with ndovu's own words; an unreachable or silent endpoint fails fast; the
resource's timeout is honoured."""

from __future__ import annotations

import copy
import socket
import time
from typing import Any

import pytest
from heat.common import exception

from tests.heat.harness import load_template, ndovu_config
from tests.helpers import Server, free_port, node_pids, processes_under


def _native(**props: Any) -> dict[str, Any]:
    return {"heat_template_version": "2018-08-31",
            "resources": {"cluster": {"type": "Ndovu::Cluster", "properties": props}}}


def _names(server: Server) -> list[str]:
    with server.client() as c:
        return [cl["name"] for cl in c.get("/v1/clusters").json()["clusters"]]


@pytest.mark.parametrize(("props", "expected"), [
    ({"name": "bad-name!", "cluster_type": "zookeeper"},
     "cluster name 'bad-name!' is invalid: use letters, digits and underscores only"),
    ({"name": "x" * 80, "cluster_type": "zookeeper"}, "so use at most"),
    ({"cluster_type": "nosuchtype"},
     "cluster_type: unknown cluster type 'nosuchtype'; known types: "),
    ({"cluster_type": "zookeeper",
      "node_groups": [{"name": "zookeeper", "instance_num": 5}]},
     "node_groups[0].instance_num: node group 'zookeeper' may have at least 3 and at most "
     "3 nodes, not 5"),
    ({"cluster_type": "spark", "node_groups": [{"name": "workers", "instance_num": 3}]},
     "node_groups[0]: cluster type 'spark' has no node group 'workers'; its node groups "
     "are 'master', 'worker'"),
    ({"cluster_type": "etcd", "node_groups": [{"name": "etcd", "instance_type": "HUGE"}]},
     '"HUGE" is not an allowed value'),
    ({"cluster_type": "mesos"}, "cluster type 'mesos' cannot run on this ndovu server: "),
])
def test_invalid_properties_fail_validation_and_create_nothing(heat, ndovu_server,
                                                               props, expected) -> None:
    before = _names(ndovu_server)
    with pytest.raises(exception.StackValidationFailed) as caught:
        heat.create("invalid", _native(**props))
    assert expected in str(caught.value), str(caught.value)
    assert _names(ndovu_server) == before
    assert not [s for s in heat.service.list_stacks(heat.ctx) if s["stack_name"] == "invalid"]


def test_seed_properties_that_contradict_fail_validation(heat, ndovu_server) -> None:
    template = load_template("bde-config.yaml")
    both = copy.deepcopy(template)
    both["resources"]["cluster"]["properties"].update(network="a", cluster_net="b")
    with pytest.raises(exception.StackValidationFailed) as caught:
        heat.create("invalid", both, {"cluster_name": "two_nets"})
    assert "network" in str(caught.value) and "cluster_net" in str(caught.value)

    # heat.conf's credentials are never sent to an endpoint a template names
    elsewhere = copy.deepcopy(template)
    elsewhere["resources"]["cluster"]["properties"]["bde_endpoint"] = \
        f"http://127.91.0.1:{free_port()}"
    with pytest.raises(exception.StackValidationFailed) as caught:
        heat.create("invalid", elsewhere, {"cluster_name": "other_server"})
    assert "credentials in heat.conf are only sent to the configured endpoint" in \
        str(caught.value), str(caught.value)


def test_cluster_password_is_refused_with_ndovus_reason(heat, ndovu_server) -> None:
    secret = "s3cret-node-password"
    stack = heat.create("with-password", load_template("bde-config.yaml"),
                        {"cluster_name": "zk_password", "cluster_password": secret})
    assert (stack["stack_action"], stack["stack_status"]) == ("CREATE", "FAILED")
    reason = stack["stack_status_reason"]
    assert "ndovu does not set node passwords on the local provider" in reason, reason
    assert secret not in reason
    assert "zk_password" not in _names(ndovu_server)
    events = heat.events(stack["stack_identity"])
    assert not any(secret in (e.get("resource_status_reason") or "") for e in events)
    heat.delete(stack["stack_identity"])


def test_failed_provisioning_fails_the_stack_with_ndovus_error(heat, fresh_server) -> None:
    """ZooKeeper's port taken on one of the subnet's first addresses (bound, not
    listening: the local provider still hands the address out): that node fails with
    ZooKeeper's own words, the stack CREATE_FAILED with them; deleting the stack removes
    everything."""
    taken = "127.92.0.2"
    blocker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        blocker.bind((taken, 2181))
        with ndovu_config(endpoint=fresh_server.url, password_file=str(
                fresh_server.state_dir / "initial-admin-password")):
            stack = heat.create("provision-fails", load_template("zookeeper.yaml"),
                                {"cluster_name": "zk_fails"})
            identity = stack["stack_identity"]
            assert (stack["stack_action"], stack["stack_status"]) == ("CREATE", "FAILED")
            reason = stack["stack_status_reason"]
            assert "Went to status PROVISION_ERROR" in reason, reason
            assert "ndovu could not create cluster 'zk_fails'" in reason, reason
            with fresh_server.client() as c:
                cluster = c.get("/v1/clusters/zk_fails").json()
            assert cluster["status"] == "PROVISION_ERROR"
            failed = [n for g in cluster["nodeGroups"] for n in g["instances"]
                      if n["ip"] == taken]
            assert len(failed) == 1 and failed[0]["status"] == "BOOTSTRAP_FAILED"
            # the node and ZooKeeper's own words
            assert failed[0]["name"] in reason and "Address already in use" in reason, reason
            heat.delete(identity)
    finally:
        blocker.close()
    with fresh_server.client() as c:
        assert c.get("/v1/clusters/zk_fails").status_code == 404
    assert node_pids(fresh_server.state_dir) == []
    assert processes_under(fresh_server.state_dir / "nodes") == []


def test_unreachable_endpoint_fails_fast_naming_it(heat, ndovu_server) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with ndovu_config(endpoint=nobody), pytest.raises(exception.StackValidationFailed) as e:
        heat.create("unreachable", load_template("zookeeper.yaml"))
    assert f"cannot reach ndovu at {nobody}: connection refused" in str(e.value), str(e.value)

    # a server that accepts connections but never answers: the request timeout ends it
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    started = time.monotonic()
    try:
        with ndovu_config(endpoint=url, request_timeout=1.0), \
                pytest.raises(exception.StackValidationFailed) as e:
            heat.create("silent", load_template("zookeeper.yaml"))
    finally:
        silent.close()
    assert f"ndovu at {url} did not answer POST /v1/auth/tokens within 1 s" in str(e.value)
    assert time.monotonic() - started < 60  # a bounded wait, not a hang


def test_resource_timeout_fails_a_create_that_takes_longer(heat, ndovu_server) -> None:
    template = load_template("spark.yaml")
    stack = heat.create("too-slow", template, {"cluster_name": "spark_slow",
                                               "worker_memory": "512m", "timeout": 0.05})
    assert (stack["stack_action"], stack["stack_status"]) == ("CREATE", "FAILED")
    reason = stack["stack_status_reason"]
    assert "did not finish within the resource's timeout of 3 s" in reason, reason
    assert "spark_slow" in reason and "(CREATE) STARTED" in reason, reason
    heat.delete(stack["stack_identity"])
    with ndovu_server.client() as c:
        assert c.get("/v1/clusters/spark_slow").status_code == 404


def test_an_unreadable_password_file_is_named(heat, tmp_path) -> None:
    missing = tmp_path / "no-such-password-file"
    with ndovu_config(password_file=str(missing)), \
            pytest.raises(exception.StackValidationFailed) as caught:
        heat.create("no-password", load_template("zookeeper.yaml"))
    assert f"cannot read [ndovu] password_file '{missing}': No such file or directory" in \
        str(caught.value), str(caught.value)
