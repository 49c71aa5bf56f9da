"""Each cluster's SSH key pair and its nodes' pinned host keys, in the store: implements
``ndovu.providers.openstack.ClusterKeys`` for every engine of the server at once.

The key pair is made by the ``generate`` callable the composition root hands in (so the
store imports no provider), and built into the provider's record by ``record``. Two
engines that ask for a new cluster's pair at once both insert; the unique cluster name
lets one win, and the other reads the winner's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ndovu.store.db import Store
from ndovu.store.models import ClusterKey, NodeHostKey

K = TypeVar("K")


class StoreClusterKeys(Generic[K]):
    def __init__(self, store: Store, generate: Callable[[], tuple[str, str]],
                 record: Callable[[str, str], K]):
        """``generate()`` gives a new (private key, public key); ``record(private,
        public)`` builds what the provider gets."""
        self.store = store
        self.generate = generate
        self.record = record

    def _read(self, cluster: str) -> K | None:
        with self.store.session() as s:
            row = s.scalars(select(ClusterKey).where(ClusterKey.cluster_name == cluster)).first()
            return self.record(row.private_key, row.public_key) if row else None

    def key_pair(self, cluster: str) -> K:
        found = self._read(cluster)
        if found is not None:
            return found
        private, public = self.generate()
        try:
            with self.store.session() as s:
                s.add(ClusterKey(cluster_name=cluster, private_key=private, public_key=public))
        except IntegrityError:
            pass  # another engine made it first: use theirs
        made = self._read(cluster)
        assert made is not None
        return made

    def host_key(self, cluster: str, node: str) -> str | None:
        with self.store.session() as s:
            return s.scalar(select(NodeHostKey.host_key).where(
                NodeHostKey.node_name == node, NodeHostKey.cluster_name == cluster))

    def record_host_key(self, cluster: str, node: str, host_key: str) -> None:
        try:
            with self.store.session() as s:
                s.add(NodeHostKey(cluster_name=cluster, node_name=node, host_key=host_key))
        except IntegrityError:
            pass  # pinned already: the first contact's key stays

    def forget(self, cluster: str, node: str | None = None) -> None:
        with self.store.session() as s:
            if node is not None:
                s.execute(delete(NodeHostKey).where(NodeHostKey.node_name == node,
                                                    NodeHostKey.cluster_name == cluster))
                return
            s.execute(delete(NodeHostKey).where(NodeHostKey.cluster_name == cluster))
            s.execute(delete(ClusterKey).where(ClusterKey.cluster_name == cluster))
