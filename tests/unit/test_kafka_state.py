"""The rules drawn from Kafka's state in ZooKeeper: which partitions a broker holds, and
which it would lead without their latest messages (Kafka 0.8's unclean election)."""

from __future__ import annotations

from ndovu.roles.kafka_state import ClusterState, PartitionState


def _state(live: set[int], *partitions: tuple[int, tuple[int, ...], int, tuple[int, ...]]
           ) -> ClusterState:
    return ClusterState(frozenset(live), tuple(
        PartitionState("orders", pid, replicas, leader, in_sync)
        for pid, replicas, leader, in_sync in partitions))


def test_a_broker_out_of_sync_waits_while_every_in_sync_replica_is_down() -> None:
    # after a whole-cluster stop: broker 1 stopped last and is the only one in sync
    state = _state(set(), (0, (1, 2, 3), 1, (1,)), (1, (2, 3, 1), 1, (1,)))
    assert [p.name for p in state.stale_on(2)] == ["orders-0", "orders-1"]
    assert state.stale_on(1) == []  # the in-sync one starts at once
    # once broker 1 is up, the others follow it (and copy what they lack)
    up = _state({1}, (0, (1, 2, 3), 1, (1,)), (1, (2, 3, 1), 1, (1,)))
    assert up.stale_on(2) == [] and up.stale_on(3) == []


def test_partitions_elsewhere_do_not_hold_a_broker_back() -> None:
    state = _state(set(), (0, (1, 2), 1, (1,)), (1, (3,), 3, (3,)))
    assert state.stale_on(3) == []
    assert [p.name for p in state.stale_on(2)] == ["orders-0"]


def test_a_broker_holds_what_it_leads_or_has_a_replica_of() -> None:
    state = _state({1, 2, 3}, (0, (1, 2), 1, (1, 2)), (1, (2, 3), 2, (2, 3)))
    assert [p.name for p in state.held_by(1)] == ["orders-0"]
    assert [p.name for p in state.held_by(3)] == ["orders-1"]
    assert state.held_by(4) == []


def test_holders_in_a_ring_start_in_order_of_id_and_the_others_after_them() -> None:
    # broker 1 alone in sync for orders-0, broker 3 for orders-1: no order is safe for
    # both, so the lower id goes first and nobody waits forever
    state = _state(set(), (0, (1, 2, 3), 1, (1,)), (1, (3, 1, 2), 3, (3,)))
    assert state.start_blockers(1) == []
    assert [p.name for p in state.start_blockers(3)] == ["orders-0"]
    assert [p.name for p in state.start_blockers(2)] == ["orders-0", "orders-1"]
    one_up = _state({1}, (0, (1, 2, 3), 1, (1,)), (1, (3, 1, 2), 3, (3,)))
    assert one_up.start_blockers(3) == []
    assert [p.name for p in one_up.start_blockers(2)] == ["orders-1"]
