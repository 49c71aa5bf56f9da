"""Bootstrap stages come from what roles provide and require, not from a fixed list."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ndovu.engine.planner import bootstrap_stages, validate_plan
from ndovu.errors import SpecError
from ndovu.roles.base import Setting
from ndovu.spec.model import ClusterPlan, GroupPlan

SPARK_SETTINGS = {"worker.cores": Setting("worker.cores", "int", "cores", 1, minimum=1),
                  "worker.memory": Setting("worker.memory", "size", "memory", "1g")}


@dataclass
class FakeRole:
    """Only the declarations the planner reads; no software behind it."""

    name: str
    provides: frozenset[str] = frozenset()
    requires: frozenset[str] = frozenset()
    missing: str | None = None
    uses: frozenset[str] = frozenset()
    config_section: str = ""
    settings: dict[str, Setting] = field(default_factory=dict)

    def unsupported_reason(self) -> str | None:
        return self.missing


def roles(*items: FakeRole) -> dict[str, FakeRole]:
    return {r.name: r for r in items}


def plan(*groups: tuple[str, tuple[str, ...]], configuration: dict | None = None,
         group_configuration: dict[str, dict] | None = None) -> ClusterPlan:
    """``group_configuration`` maps a group name to that group's configuration."""
    return ClusterPlan("c", "t", tuple(
        GroupPlan(name, role_names, 1, 1, None, "SMALL", 1, 3748, "LOCAL", 25,
                  configuration=dict((group_configuration or {}).get(name, {})))
        for name, role_names in groups), dict(configuration or {}))


def spark_roles() -> dict[str, FakeRole]:
    return roles(FakeRole("zookeeper", frozenset({"zookeeper"}), config_section="zookeeper",
                          settings={"tickTime": Setting("tickTime", "int", "tick", 2000)}),
                 FakeRole("spark_master", frozenset({"spark_master"}),
                          uses=frozenset({"zookeeper"}), config_section="spark"),
                 FakeRole("spark_worker", requires=frozenset({"spark_master"}),
                          config_section="spark", settings=SPARK_SETTINGS))


def test_roles_wait_for_the_services_they_require() -> None:
    known = roles(FakeRole("zookeeper", provides=frozenset({"zookeeper"})),
                  FakeRole("spark_master", frozenset({"spark_master"}),
                           frozenset({"zookeeper"})),
                  FakeRole("spark_worker", requires=frozenset({"spark_master"})))
    assert bootstrap_stages(["spark_worker", "spark_master", "zookeeper"], known) == [
        ["zookeeper"], ["spark_master"], ["spark_worker"]]


def test_independent_roles_share_a_stage() -> None:
    known = roles(FakeRole("a", frozenset({"a"})), FakeRole("b", frozenset({"b"})),
                  FakeRole("c", requires=frozenset({"a", "b"})))
    assert bootstrap_stages(["a", "b", "c"], known) == [["a", "b"], ["c"]]


def test_a_required_service_nobody_provides_is_refused() -> None:
    known = roles(FakeRole("worker", requires=frozenset({"master"})))
    with pytest.raises(SpecError, match="requires the service 'master'"):
        bootstrap_stages(["worker"], known)


def test_a_cycle_is_refused() -> None:
    known = roles(FakeRole("a", frozenset({"a"}), frozenset({"b"})),
                  FakeRole("b", frozenset({"b"}), frozenset({"a"})))
    with pytest.raises(SpecError, match="cycle"):
        bootstrap_stages(["a", "b"], known)


def test_validate_plan_names_the_unknown_role_and_its_group() -> None:
    with pytest.raises(SpecError) as err:
        validate_plan(plan(("zk", ("zookeeper",)), ("masters", ("mesos_master",))),
                      roles(FakeRole("zookeeper", frozenset({"zookeeper"}))))
    assert err.value.field == "nodeGroups[1].roles"
    assert "mesos_master" in err.value.message and "zookeeper" in err.value.message


def test_validate_plan_refuses_a_role_that_cannot_run_here() -> None:
    with pytest.raises(SpecError, match="apt-get install zookeeper"):
        validate_plan(plan(("zk", ("zookeeper",))),
                      roles(FakeRole("zookeeper", missing="apt-get install zookeeper")))


def test_a_used_service_is_waited_for_when_the_cluster_has_it() -> None:
    assert bootstrap_stages(["spark_worker", "spark_master", "zookeeper"], spark_roles()) == [
        ["zookeeper"], ["spark_master"], ["spark_worker"]]


def test_a_used_service_is_ignored_when_nobody_provides_it() -> None:
    assert bootstrap_stages(["spark_worker", "spark_master"], spark_roles()) == [
        ["spark_master"], ["spark_worker"]]


def test_configuration_keys_of_the_clusters_roles_are_accepted() -> None:
    validate_plan(plan(("master", ("spark_master",)), ("worker", ("spark_worker",)),
                       configuration={"spark": {"worker.cores": "2", "worker.memory": "2G"}},
                       group_configuration={"worker": {"spark": {"worker.cores": 1}}}),
                  spark_roles())


@pytest.mark.parametrize(("configuration", "field", "words"), [
    ({"spark": {"worker.corez": 2}}, "configuration.spark.worker.corez",
     ["worker.corez", "worker.cores"]),
    ({"zookeeper": {"tickTime": 1}}, "configuration.zookeeper", ["zookeeper", "spark"]),
    ({"worker.cores": 2}, "configuration.worker.cores", ["'spark' section"]),
    ({"spark": {"worker.cores": 0}}, "configuration.spark.worker.cores", ["at least 1"]),
    ({"spark": {"worker.memory": "lots"}}, "configuration.spark.worker.memory", ["512m"]),
    ({"spark": ["worker.cores"]}, "configuration.spark", ["must be an object"]),
])
def test_configuration_no_role_understands_is_refused_naming_it(
        configuration: dict, field: str, words: list[str]) -> None:
    with pytest.raises(SpecError) as err:
        validate_plan(plan(("master", ("spark_master",)), ("worker", ("spark_worker",)),
                           configuration=configuration), spark_roles())
    assert err.value.field == field
    text = f"{err.value.message} {err.value.hint}"
    assert all(word in text for word in words), text


def test_group_configuration_is_checked_against_the_groups_own_roles() -> None:
    # worker settings on the master group: no role of that group understands them
    with pytest.raises(SpecError) as err:
        validate_plan(plan(("master", ("spark_master",)), ("worker", ("spark_worker",)),
                           group_configuration={"master": {"spark": {"worker.cores": 2}}}),
                      spark_roles())
    assert err.value.field == "nodeGroups[0].configuration.spark.worker.cores"
