"""A spec's healing policy: parsed, laid under a create's, stored with the plan."""

from __future__ import annotations

import pytest

from ndovu.errors import SpecError
from ndovu.spec.expand import expand
from ndovu.spec.healing import HealingPolicy, parse_healing
from ndovu.spec.model import ClusterPlan
from ndovu.spec.parse import parse_spec

SPEC = {"nodeGroups": [{"name": "zk", "roles": ["zookeeper"], "instanceNum": 5}]}


def test_defaults_and_a_spec_s_policy_under_a_request_s() -> None:
    assert parse_spec(SPEC).healing == HealingPolicy(True, 300, "40%")
    spec = parse_spec({**SPEC, "healing": {"unhealthyAfter": 60, "maxUnhealthy": 2}})
    assert spec.healing == HealingPolicy(True, 60, "2")
    plan = expand(spec, cluster_name="z", cluster_type="t", healing={"enabled": False})
    assert plan.healing == HealingPolicy(False, 60, "2")
    # stored as JSON with the plan, read back the same; older plans get the defaults
    assert ClusterPlan.from_dict(plan.to_dict()).healing == plan.healing
    old = plan.to_dict()
    del old["healing"]
    assert ClusterPlan.from_dict(old).healing == HealingPolicy()


def test_max_unhealthy_is_a_count_or_a_share_of_the_nodes() -> None:
    assert HealingPolicy(max_unhealthy="40%").max_unhealthy_nodes(5) == 2
    assert HealingPolicy(max_unhealthy="40%").max_unhealthy_nodes(2) == 0
    assert HealingPolicy(max_unhealthy="100%").max_unhealthy_nodes(3) == 3
    assert HealingPolicy(max_unhealthy="1").max_unhealthy_nodes(7) == 1


@pytest.mark.parametrize(("value", "field"), [
    ("on", "healing"),
    ({"enabled": 1}, "healing.enabled"),
    ({"unhealthyAfter": 1.5}, "healing.unhealthyAfter"),
    ({"unhealthyAfter": 10**9}, "healing.unhealthyAfter"),
    ({"maxUnhealthy": "x%"}, "healing.maxUnhealthy"),
    ({"maxUnhealthy": -1}, "healing.maxUnhealthy"),
    ({"maxUnhealthy": True}, "healing.maxUnhealthy"),
    ({"maxUnhealty": 1}, "healing.maxUnhealty"),
])
def test_bad_values_name_their_field(value: object, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_healing(value)
    assert caught.value.field == field
