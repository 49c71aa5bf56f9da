"""A HOT stack with an Ndovu::Cluster (ZooKeeper) through its whole life in the real Heat
engine (convergence), against a real ndovu server: create, outputs, check, suspend,
resume, delete; a check after a member was killed behind ndovu's back."""

from __future__ import annotations

import json
import logging
import sys
import uuid

import pytest
from heat.engine import resources
from kazoo.client import KazooClient

from tests.heat.harness import load_template, ndovu_config
from tests.helpers import Server, kill_all, node_pids, wait_operation, wait_until


def _cluster(server: Server, name: str) -> dict:
    with server.client() as c:
        r = c.get(f"/v1/clusters/{name}")
        assert r.status_code == 200, r.text
        return r.json()


def _nodes(cluster: dict) -> list[dict]:
    return [n for g in cluster["nodeGroups"] for n in g["instances"]]


def _zk_roundtrip(connect_string: str) -> None:
    """Write through the first member, read through the last."""
    members = connect_string.split(",")
    path, value = f"/heat-proof/{uuid.uuid4().hex}", b"written through heat's outputs"
    first = KazooClient(hosts=members[0], timeout=10)
    first.start(timeout=15)
    try:
        first.create(path, value, makepath=True)
    finally:
        first.stop()
        first.close()
    last = KazooClient(hosts=members[-1], timeout=10)
    last.start(timeout=15)
    try:
        last.sync(path)
        assert last.get(path)[0] == value
    finally:
        last.stop()
        last.close()


def _power(server: Server, name: str, verb: str) -> None:
    """Stop or start the cluster behind Heat's back, through ndovu's API."""
    with server.client() as c:
        r = c.post(f"/v1/clusters/{name}/{verb}")
        assert r.status_code == 202, r.text
        assert wait_operation(c, r.json()["id"])["status"] == "COMPLETED"


def _everything_heat_shows(heat, identity: dict) -> str:
    """Stack, resource (with attributes) and every event with its details, as JSON."""
    events = heat.events(identity)
    details = [heat.service.list_events(heat.ctx, identity, filters={
        "uuid": e["event_identity"]["path"].rsplit("/", 1)[-1]}) for e in events]
    return json.dumps([heat.show(identity), heat.resource(identity, "ensemble"), events,
                       details], default=str)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # an argument (a Heat resource) whose stack is gone since
        return str(record.msg)


def test_the_plugin_is_loaded_from_plugin_dirs(heat) -> None:
    """As an operator installs it: Heat loads the folder as heat.engine.plugins.*."""
    env = resources.global_env()
    for type_name, class_name in (("Ndovu::Cluster", "NativeCluster"),
                                  ("VirtualElephant::VMware::BDE", "BDECluster")):
        cls = env.get_class(type_name)
        assert (cls.__module__, cls.__name__) == ("heat.engine.plugins.resources", class_name)


def test_hot_stack_create_outputs_check_suspend_resume_delete(
        heat, ndovu_server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    name = "zk_hot"
    stack = heat.create("hot-zookeeper", load_template("zookeeper.yaml"),
                        {"cluster_name": name})
    assert (stack["stack_action"], stack["stack_status"]) == ("CREATE", "COMPLETE"), \
        stack["stack_status_reason"]
    identity = stack["stack_identity"]

    cluster = _cluster(ndovu_server, name)
    assert cluster["status"] == "RUNNING"
    nodes = _nodes(cluster)
    assert len(nodes) == 3 and all(n["status"] == "SERVICE_READY" for n in nodes)
    real = [n["ip"] for n in nodes]

    outputs = heat.outputs(identity)
    assert outputs["status"] == "RUNNING"
    assert outputs["addresses"] == real
    assert outputs["member_addresses"] == real
    assert outputs["connect_string"] == cluster["endpoints"]["zookeeper"]
    assert outputs["connect_string"] == ",".join(f"{ip}:2181" for ip in real)
    assert outputs["nodes"] == [{"name": n["name"], "group": "zookeeper",
                                 "addresses": [n["ip"]], "status": "SERVICE_READY"}
                                for n in nodes]
    assert outputs["floating_ips"] == []
    # the physical id is the cluster's name
    assert heat.resource(identity, "ensemble")["physical_resource_id"] == name
    _zk_roundtrip(outputs["connect_string"])

    checked = heat.check(identity)
    assert checked["stack_status"] == "COMPLETE", checked["stack_status_reason"]
    # a check looks at the real cluster: stopped behind Heat's back, the check fails
    _power(ndovu_server, name, "stop")
    failed = heat.check(identity)
    assert failed["stack_status"] == "FAILED"
    assert f"cluster '{name}' is STOPPED, not RUNNING" in failed["stack_status_reason"]
    _power(ndovu_server, name, "start")
    assert heat.check(identity)["stack_status"] == "COMPLETE"

    suspended = heat.suspend(identity)
    assert suspended["stack_status"] == "COMPLETE", suspended["stack_status_reason"]
    cluster = _cluster(ndovu_server, name)
    assert cluster["status"] == "STOPPED"
    assert {n["status"] for n in _nodes(cluster)} == {"POWERED_OFF"}
    assert node_pids(ndovu_server.state_dir / "nodes" / f"{name}-zookeeper-0") == []
    assert heat.outputs(identity)["status"] == "STOPPED"

    resumed = heat.resume(identity)
    assert resumed["stack_status"] == "COMPLETE", resumed["stack_status_reason"]
    cluster = _cluster(ndovu_server, name)
    assert cluster["status"] == "RUNNING"
    assert [n["ip"] for n in _nodes(cluster)] == real
    _zk_roundtrip(heat.outputs(identity)["connect_string"])

    # heat.conf's password (password_file) and the plugin's token: in nothing Heat shows
    # (the stack, the resource, every event with its details) and in no log line
    secrets = [ndovu_server.admin_password,
               *sys.modules["heat.engine.plugins.client"]._tokens.values()]
    shown = _everything_heat_shows(heat, identity)
    logged = "\n".join(_message(r) for r in caplog.records)
    assert not [s for s in secrets if s in shown or s in logged]

    heat.delete(identity)
    with ndovu_server.client() as c:
        assert c.get(f"/v1/clusters/{name}").status_code == 404
    for node in nodes:  # no process, no directory left
        node_dir = ndovu_server.state_dir / "nodes" / node["name"]
        assert node_pids(node_dir) == [] and not node_dir.exists()


def test_check_reports_what_ndovu_saw_on_a_member_killed_behind_its_back(
        heat, watching_server) -> None:
    """A stack check tells the truth ndovu's observation found: a ZooKeeper member killed
    behind everyone's back turns the cluster SERVICE_WARNING within a look, and the check
    fails with the node and the probe's words; started again, the check passes."""
    name = "zk_watched"
    with ndovu_config(endpoint=watching_server.url, password_file=str(
            watching_server.state_dir / "initial-admin-password")):
        stack = heat.create("hot-watched", load_template("zookeeper.yaml"),
                            {"cluster_name": name})
        assert stack["stack_status"] == "COMPLETE", stack["stack_status_reason"]
        identity = stack["stack_identity"]
        assert heat.check(identity)["stack_status"] == "COMPLETE"

        victim = f"{name}-zookeeper-1"
        kill_all(watching_server.state_dir / "nodes" / victim)
        wait_until(lambda: _cluster(watching_server, name)["status"] == "SERVICE_WARNING",
                   timeout=30, what="the cluster to turn SERVICE_WARNING")
        failed = heat.check(identity)
        assert failed["stack_status"] == "FAILED"
        reason = failed["stack_status_reason"]
        assert f"cluster '{name}' is SERVICE_WARNING, not RUNNING" in reason, reason
        assert f"{victim}: zookeeper not serving" in reason, reason

        _power(watching_server, name, "start")
        assert heat.check(identity)["stack_status"] == "COMPLETE"
        heat.delete(identity)
    with watching_server.client() as c:
        assert c.get(f"/v1/clusters/{name}").status_code == 404
