"""Stack updates: a worker count change resizes the real cluster in place; a name change
replaces it; a size change the provider cannot make fails with ndovu's reason."""

from __future__ import annotations

from tests.heat.harness import load_template
from tests.helpers import Server, node_pids, wait_operation


def _cluster(server: Server, name: str) -> dict | None:
    with server.client() as c:
        r = c.get(f"/v1/clusters/{name}")
        return r.json() if r.status_code == 200 else None


def _group(cluster: dict, group: str) -> list[dict]:
    return next(g["instances"] for g in cluster["nodeGroups"] if g["name"] == group)


def test_worker_count_update_resizes_spark_in_place(heat, ndovu_server) -> None:
    name = "spark_heat"
    template = load_template("spark.yaml")
    stack = heat.create("hot-spark", template, {"cluster_name": name, "workers": 2,
                                                "worker_memory": "512m"})
    assert stack["stack_status"] == "COMPLETE", stack["stack_status_reason"]
    identity = stack["stack_identity"]
    before = _cluster(ndovu_server, name)
    assert len(_group(before, "worker")) == 2
    assert heat.outputs(identity)["worker_addresses"] == [n["ip"] for n in
                                                         _group(before, "worker")]

    updated = heat.update(identity, template, {"cluster_name": name, "workers": 3,
                                               "worker_memory": "512m"})
    assert (updated["stack_action"], updated["stack_status"]) == ("UPDATE", "COMPLETE"), \
        updated["stack_status_reason"]
    after = _cluster(ndovu_server, name)
    # the same cluster, grown: same creation, master and first workers kept
    assert after["createdAt"] == before["createdAt"]
    assert after["status"] == "RUNNING"
    assert _group(after, "master") == _group(before, "master")
    workers = _group(after, "worker")
    assert [w["name"] for w in workers] == [f"{name}-worker-{i}" for i in range(3)]
    assert workers[:2] == _group(before, "worker")
    assert all(w["status"] == "SERVICE_READY" for w in workers)
    assert after["operation"]["type"] == "RESIZE"
    outputs = heat.outputs(identity)
    assert outputs["worker_addresses"] == [w["ip"] for w in workers]
    assert outputs["master_url"] == after["endpoints"]["spark"]

    heat.delete(identity)
    assert _cluster(ndovu_server, name) is None
    for node in _group(after, "master") + workers:
        assert node_pids(ndovu_server.state_dir / "nodes" / node["name"]) == []


def test_name_change_replaces_and_size_change_reports_ndovus_refusal(heat,
                                                                      ndovu_server) -> None:
    template = load_template("bde-config.yaml")
    stack = heat.create("bde-etcd", template, {"cluster_name": "etcd_first",
                                               "cluster_type": "etcd"})
    assert stack["stack_status"] == "COMPLETE", stack["stack_status_reason"]
    identity = stack["stack_identity"]
    first = _cluster(ndovu_server, "etcd_first")
    assert first["status"] == "RUNNING"

    # cluster_name cannot change in place: Heat creates the new cluster, then deletes the old
    updated = heat.update(identity, template, {"cluster_name": "etcd_second",
                                               "cluster_type": "etcd"})
    assert updated["stack_status"] == "COMPLETE", updated["stack_status_reason"]
    assert _cluster(ndovu_server, "etcd_first") is None
    second = _cluster(ndovu_server, "etcd_second")
    assert second["status"] == "RUNNING"
    assert heat.resource(identity, "cluster")["physical_resource_id"] == "etcd_second"

    # bigger nodes: ndovu's local provider cannot change a node's size, and says so
    bigger = load_template("bde-config.yaml")
    bigger["resources"]["cluster"]["properties"]["node_groups"] = [
        {"name": "etcd", "instance_type": "LARGE"}]
    failed = heat.update(identity, bigger, {"cluster_name": "etcd_second",
                                            "cluster_type": "etcd"})
    assert failed["stack_status"] == "FAILED"
    reason = failed["stack_status_reason"]
    assert "cannot scale node group 'etcd'" in reason and "local provider" in reason, reason
    assert _cluster(ndovu_server, "etcd_second")["status"] == "RUNNING"

    # a cluster already deleted behind Heat's back: the stack delete still succeeds
    with ndovu_server.client() as c:
        op = c.delete("/v1/clusters/etcd_second").json()
        assert wait_operation(c, op["id"])["status"] == "COMPLETED"
    heat.delete(identity)
    assert _cluster(ndovu_server, "etcd_second") is None
