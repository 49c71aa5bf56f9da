"""Persistent state: SQLAlchemy 2 models and Alembic migrations."""

from ndovu.store.db import Store
from ndovu.store.models import (
    Base,
    Cluster,
    Datastore,
    Event,
    Network,
    Node,
    Operation,
    ResourcePool,
)

__all__ = ["Base", "Cluster", "Datastore", "Event", "Network", "Node", "Operation",
           "ResourcePool", "Store"]
