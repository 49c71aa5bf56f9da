"""The plugin's Heat-free modules: which endpoint and credentials, the create body and
update steps, the validation messages, reading outcomes and attributes."""

from __future__ import annotations

import pytest

from ndovu.heat import attributes, checks, cluster_spec, connection, outcome
from ndovu.heat.cluster_spec import GroupOverride, Step

CONF = connection.Settings(endpoint="http://ndovu.example:8470", username="heat",
                           password="conf-secret")


@pytest.mark.parametrize(("given", "expected"), [
    ("ndovu.example", "http://ndovu.example:8470"),
    ("ndovu.example:9000", "http://ndovu.example:9000"),
    ("https://ndovu.example/", "https://ndovu.example"),
    ("http://127.0.0.1:8470/", "http://127.0.0.1:8470"),
])
def test_endpoints_are_normalized(given: str, expected: str) -> None:
    assert connection.normalize(given) == expected


@pytest.mark.parametrize("bad", ["ftp://x", "http://user:pw@host", "http://host?x=1"])
def test_bad_endpoints_are_refused(bad: str) -> None:
    with pytest.raises(connection.SetupError) as caught:
        connection.normalize(bad)
    assert "pw" not in str(caught.value)


def test_configured_credentials_go_only_to_the_configured_endpoint() -> None:
    conn = connection.resolve(CONF)
    assert (conn.endpoint, conn.username, conn.password) == \
        ("http://ndovu.example:8470", "heat", "conf-secret")
    # the same endpoint written differently still gets them
    assert connection.resolve(CONF, endpoint="ndovu.example").password == "conf-secret"
    with pytest.raises(connection.SetupError) as caught:
        connection.resolve(CONF, endpoint="http://evil.example:8470")
    assert "only sent to the configured endpoint" in str(caught.value)
    own = connection.resolve(CONF, endpoint="http://other:1", username="u", password="p")
    assert (own.endpoint, own.username, own.password) == ("http://other:1", "u", "p")
    assert "conf-secret" not in repr(conn) and "conf-secret" not in repr(CONF)


def test_half_credentials_and_missing_configuration_are_explained() -> None:
    with pytest.raises(connection.SetupError, match="both username and password"):
        connection.resolve(CONF, username="only-user")
    empty = connection.Settings(endpoint=None, username=None)
    with pytest.raises(connection.SetupError, match=r"no ndovu endpoint: set endpoint"):
        connection.resolve(empty)
    no_user = connection.Settings(endpoint="http://n:1", username=None)
    with pytest.raises(connection.SetupError, match="no ndovu credentials"):
        connection.resolve(no_user)


def test_create_body_carries_overrides_in_v1_names() -> None:
    request = cluster_spec.ClusterRequest(
        name="sp1", cluster_type="spark",
        groups=(GroupOverride("worker", instance_num=3, instance_type="LARGE",
                              storage_gb=20),),
        configuration={"spark": {"worker.cores": 2}}, network="net1", resource_pool="rp1",
        password="pw")
    assert request.body() == {
        "name": "sp1", "type": "spark",
        "nodeGroups": [{"name": "worker", "instanceNum": 3, "instanceType": "LARGE",
                        "storage": {"sizeGB": 20}}],
        "configuration": {"spark": {"worker.cores": 2}}, "network": "net1",
        "resourcePool": "rp1", "password": "pw"}
    assert cluster_spec.ClusterRequest("z", "zookeeper").body() == \
        {"name": "z", "type": "zookeeper"}


CLUSTER = {"nodeGroups": [
    {"name": "master", "instanceNum": 1, "cpuNum": 2, "memCapacityMB": 7500},
    {"name": "worker", "instanceNum": 3, "cpuNum": 2, "memCapacityMB": 7500}]}
KIND = {"name": "spark", "nodeGroups": [
    {"name": "master", "instanceNum": {"default": 1, "min": 1, "max": 1},
     "cpuNum": None, "memCapacityMB": None, "instanceTypes": ["SMALL", "MEDIUM"]},
    {"name": "worker", "instanceNum": {"default": 2, "min": 1, "max": None},
     "cpuNum": {"default": 2, "min": 1, "max": 4}, "memCapacityMB": None,
     "instanceTypes": ["SMALL", "MEDIUM", "LARGE"]}]}


def test_update_steps_resize_and_scale_only_what_changed() -> None:
    assert cluster_spec.update_steps(CLUSTER, KIND, [GroupOverride("worker", 3)]) == []
    assert cluster_spec.update_steps(CLUSTER, KIND, [GroupOverride("Worker", 5)]) == \
        [Step("resize", "worker", count=5)]
    # an override taken away: back to the type's default count
    assert cluster_spec.update_steps(CLUSTER, KIND, []) == \
        [Step("resize", "worker", count=2)]
    # LARGE is 4 CPU, 15000 MB; the type's cpuNum range caps nothing here
    assert cluster_spec.update_steps(
        CLUSTER, KIND, [GroupOverride("worker", 3, instance_type="LARGE")]) == \
        [Step("scale", "worker", cpu=4, memory_mb=15000)]
    step = Step("scale", "worker", cpu=4, memory_mb=15000)
    assert Step.from_dict(step.to_dict()) == step


def test_storage_changes_need_a_new_cluster() -> None:
    assert cluster_spec.storage_changed([GroupOverride("w", storage_gb=10)],
                                        [GroupOverride("W", storage_gb=20)])
    assert not cluster_spec.storage_changed([GroupOverride("w", 2)], [GroupOverride("w", 3)])


def test_names_follow_bdes_rules() -> None:
    assert checks.name_problem("zk_1") is None
    assert "use letters, digits and underscores only" in checks.name_problem("zk-1")
    assert "at most 65" in checks.name_problem("x" * 70, ["zookeeper"])


def test_overrides_are_checked_against_the_catalog_type() -> None:
    problems = checks.type_problems(KIND, [
        GroupOverride("workers"), GroupOverride("master", instance_num=2),
        GroupOverride("worker", cpu_num=8, instance_type="EXTRA_LARGE")])
    assert problems == [
        "node_groups[0]: cluster type 'spark' has no node group 'workers'; its node groups "
        "are 'master', 'worker'",
        "node_groups[1].instance_num: node group 'master' may have at least 1 and at most "
        "1 nodes, not 2",
        "node_groups[2].cpu_num: node group 'worker' may have at least 1 and at most 4 "
        "CPUs, not 8",
        "node_groups[2].instance_type: node group 'worker' offers SMALL, MEDIUM, LARGE, "
        "not 'EXTRA_LARGE'"]
    not_here = dict(KIND, runnableHere=False, notRunnableReason="no role mesos_master")
    assert checks.type_problems(not_here, []) == [
        "cluster type 'spark' cannot run on this ndovu server: no role mesos_master"]


def _read(status: str, node_status: str = "SERVICE_READY", err: str | None = None) -> dict:
    return {"name": "zk", "status": status, "endpoints": {"zookeeper": "127.0.0.1:2181"},
            "nodeGroups": [{"name": "zookeeper", "instances": [
                {"name": "zk-zookeeper-0", "ip": "127.0.0.1", "status": node_status,
                 "errMessage": err,
                 "ipConfigs": {"MGT_NETWORK": [{"ipAddress": "127.0.0.1"}]}}]}]}


def test_outcomes_carry_ndovus_own_error_text() -> None:
    done = {"id": 1, "type": "CREATE", "status": "COMPLETED"}
    outcome.check_finished("create cluster 'zk'", done, _read("RUNNING"), "RUNNING")
    failed = {"id": 1, "type": "CREATE", "status": "FAILED",
              "errorMessage": "node zk-zookeeper-0 failed to bootstrap"}
    with pytest.raises(outcome.Failure) as caught:
        outcome.check_finished("create cluster 'zk'", failed,
                               _read("PROVISION_ERROR", "BOOTSTRAP_FAILED",
                                     "Address already in use"), "RUNNING")
    assert caught.value.status == "PROVISION_ERROR"
    assert caught.value.message == (
        "ndovu could not create cluster 'zk': node zk-zookeeper-0 failed to bootstrap "
        "(nodes: zk-zookeeper-0: Address already in use)")
    assert outcome.unhealthy("zk", _read("RUNNING")) is None
    assert outcome.unhealthy("zk", _read("STOPPED")) == "cluster 'zk' is STOPPED, not RUNNING"
    assert outcome.unhealthy("zk", None) == "cluster 'zk' does not exist on the ndovu server"
    assert "zk-zookeeper-0 is SERVICE_UNHEALTHY" in outcome.unhealthy(
        "zk", _read("RUNNING", "SERVICE_UNHEALTHY"))


def test_attributes_from_a_cluster_read() -> None:
    read = _read("RUNNING")
    assert attributes.value("nodes", read) == [
        {"name": "zk-zookeeper-0", "group": "zookeeper", "addresses": ["127.0.0.1"],
         "status": "SERVICE_READY"}]
    assert attributes.value("addresses", read) == ["127.0.0.1"]
    assert attributes.value("group_addresses", read) == {"zookeeper": ["127.0.0.1"]}
    assert attributes.value("endpoints", read) == {"zookeeper": "127.0.0.1:2181"}
    assert attributes.value("floating_ips", read) == []
    assert attributes.value("status", None) is None
