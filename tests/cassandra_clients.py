"""A real Cassandra client for the tests: the DataStax Python driver, speaking Cassandra
1.2's native protocol v1, to one node at a time."""

from __future__ import annotations

from collections.abc import Mapping

from cassandra import ConsistencyLevel
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, Session
from cassandra.policies import WhiteListRoundRobinPolicy
from cassandra.query import SimpleStatement


def session(address: str) -> tuple[Cluster, Session]:
    """A client that talks to ``address`` only (it coordinates every request), at QUORUM
    unless a statement says otherwise: Cassandra 1.2 drops the connection on the driver's
    default, LOCAL_ONE, which it does not know."""
    profile = ExecutionProfile(load_balancing_policy=WhiteListRoundRobinPolicy([address]),
                               consistency_level=ConsistencyLevel.QUORUM)
    client = Cluster([address], protocol_version=1, connect_timeout=10,
                     execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    return client, client.connect()


def write_rows(address: str, rows: Mapping[int, str], replicas: int) -> None:
    """Keyspace ``ndovu`` with ``replicas`` copies of each row, table ``kv`` with ``rows``."""
    client, s = session(address)
    try:
        s.execute("CREATE KEYSPACE ndovu WITH replication = "
                  f"{{'class': 'SimpleStrategy', 'replication_factor': {int(replicas)}}}")
        s.execute("CREATE TABLE ndovu.kv (k int PRIMARY KEY, v text)")
        for k, v in rows.items():
            s.execute("INSERT INTO ndovu.kv (k, v) VALUES (%s, %s)", (k, v))
    finally:
        client.shutdown()


def read_rows(address: str, consistency: int) -> dict[int, str]:
    client, s = session(address)
    try:
        rows = s.execute(SimpleStatement("SELECT k, v FROM ndovu.kv",
                                         consistency_level=consistency))
        return {row.k: row.v for row in rows}
    finally:
        client.shutdown()
