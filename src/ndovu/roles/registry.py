"""Every role that ships with ndovu; only the composition root (ndovu.server) uses this."""


from __future__ import annotations

from ndovu.roles.base import Role
from ndovu.roles.cassandra import CassandraNodeRole, CassandraSeedRole
from ndovu.roles.etcd import EtcdRole
from ndovu.roles.hdfs import DataNodeRole, NameNodeRole
from ndovu.roles.kafka import KafkaRole
from ndovu.roles.sim import SimServiceRole
from ndovu.roles.spark import SparkMasterRole, SparkWorkerRole
from ndovu.roles.zookeeper import ZooKeeperRole


def builtin_roles() -> dict[str, Role]:
    """Every role that ships with ndovu, by name."""
    roles: list[Role] = [ZooKeeperRole(), EtcdRole(), SparkMasterRole(), SparkWorkerRole(),
                         KafkaRole(), CassandraSeedRole(), CassandraNodeRole(),
                         NameNodeRole(), DataNodeRole(), SimServiceRole()]
    return {role.name: role for role in roles}


__all__ = ["builtin_roles"]
