"""SQLAlchemy models: desired state (Cluster.plan), observed state (Node), Operations, Events.

Operations and events outlive the cluster they describe (``cluster_id`` is set NULL on
delete, ``target`` keeps the name) so a deleted cluster's history stays readable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored moment with its zone: SQLite hands datetimes back naive, and everything
    stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# the largest value an Integer column holds on every supported database (PostgreSQL's
# and MariaDB's INTEGER are 32-bit): ids and counts the API takes are bounded by it
INT_MAX = 2**31 - 1


class Base(DeclarativeBase):
    pass


class Cluster(Base):
    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    type: Mapped[str] = mapped_column(String(120))
    # the expanded ClusterPlan (ndovu.spec.model.ClusterPlan.to_dict)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    # desired lifecycle (ndovu.statuses.Desired): "running", "stopped" or "absent" (being
    # deleted); migration 0002 turned the older "present" into "running"
    desired: Mapped[str] = mapped_column(String(16), default="running")
    endpoints: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # where the nodes go (migration 0004): the network whose ipBlocks give their addresses
    # (None: the provider's own), the resource pool whose limits they count against, the
    # datastores named at create; names, so a resize and a read find them again
    network_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    resource_pool_name: Mapped[str | None] = mapped_column(String(80), nullable=True)
    datastore_names: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # the engine working on this cluster, until when (seconds since the epoch, on the
    # engine's clock): see ndovu.engine.leases (migration 0006)
    lease_holder: Mapped[str | None] = mapped_column(String(160), nullable=True)
    lease_expires: Mapped[float | None] = mapped_column(Double, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    nodes: Mapped[list[Node]] = relationship(back_populates="cluster",
                                             cascade="all, delete-orphan",
                                             order_by="Node.group_name, Node.index")


class Node(Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(160))
    group_name: Mapped[str] = mapped_column(String(80))
    index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(200), nullable=True)
    provider_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # roles whose software has been configured and started on this node (bootstrap progress,
    # persisted so a pass interrupted by a crash does not redo finished work)
    roles_started: Mapped[list[str]] = mapped_column(JSON, default=list)
    # roles that have ever been started on this node, kept across stops: a node that never
    # ran a role its peers ran (added by a resize that failed, then stopped) must join them
    # on the next start rather than found the cluster anew
    roles_ever_started: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    cluster: Mapped[Cluster] = relationship(back_populates="nodes")


class Operation(Base):
    __tablename__ = "operations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_id: Mapped[int | None] = mapped_column(
        ForeignKey("clusters.id", ondelete="SET NULL"), nullable=True, index=True)
    target: Mapped[str] = mapped_column(String(80))
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    succeed_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    fail_nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # a delete that gives up on nodes the provider keeps refusing to delete, saying what
    # may be left behind (migration 0008)
    force: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # the user who asked for it; None for the server's own (a heal)
    requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                         nullable=True)


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operation_id: Mapped[int | None] = mapped_column(
        ForeignKey("operations.id", ondelete="CASCADE"), nullable=True, index=True)
    cluster: Mapped[str] = mapped_column(String(80), index=True)
    node: Mapped[str | None] = mapped_column(String(160), nullable=True)
    step: Mapped[str] = mapped_column(String(120))
    outcome: Mapped[str] = mapped_column(String(16))
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the engine that wrote it (migration 0006)
    engine: Mapped[str | None] = mapped_column(String(160), nullable=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    """Someone who may call the API; the password is kept only as an Argon2 hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    # a disabled user cannot log in, and had every token revoked
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """A request that asked for a change (any method but GET and HEAD), whatever its
    answer: who (None: nobody logged in), from where, what, when, and the status. Never a
    body, a header or a query string, so never a secret. Rows are only ever added."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    address: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(400))
    status: Mapped[int] = mapped_column(Integer)


class LoginFailure(Base):
    """Failed logins in a row of one user name from one address (``user_name`` "*": of
    every name from that address), for the throttle (ndovu.throttle)."""

    __tablename__ = "login_failures"
    __table_args__ = (UniqueConstraint("user_name", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """A bearer token (/v1) or a session (/serengeti cookie), kept only as its SHA-256: a
    leaked database does not leak working credentials."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "bearer" or "session"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship()


class Network(Base):
    """BDE's network: a port group plus, unless DHCP, the address blocks nodes get."""

    __tablename__ = "networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    port_group: Mapped[str] = mapped_column(String(200))
    is_dhcp: Mapped[bool] = mapped_column(Boolean, default=False)
    # [[beginIp, endIp], ...], both ends included
    ip_blocks: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    dns1: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dns2: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    netmask: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # written first by every call that hands out its addresses: the row lock serializes them
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class ResourcePool(Base):
    """BDE's resource pool, with ndovu's capacity limits (None: unlimited)."""

    __tablename__ = "resource_pools"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    vc_cluster_name: Mapped[str] = mapped_column(String(200))
    vc_resource_pool_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    cpu_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mem_limit_mb: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class Datastore(Base):
    """BDE's datastore: names (or patterns) of storage, SHARED or LOCAL."""

    __tablename__ = "datastores"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    spec: Mapped[list[str]] = mapped_column(JSON, default=list)
    type: Mapped[str] = mapped_column(String(16))
    regex: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Machine(Base):
    """An existing host the operator registered for the machines provider: one node at a
    time runs on it, reached over SSH with the operator's key (migration 0007).

    ``private_key`` is a credential: no read of the API carries it. ``host_key`` is pinned
    at first contact. The node columns say which node is on the machine (all NULL: free);
    they are written before any remote work, so a crash adopts the node instead of placing
    it twice."""

    __tablename__ = "machines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    address: Mapped[str] = mapped_column(String(255), unique=True)
    port: Mapped[int] = mapped_column(Integer, default=22)
    user: Mapped[str] = mapped_column(String(32), default="root")
    private_key: Mapped[str] = mapped_column(Text)
    host_key: Mapped[str | None] = mapped_column(Text, nullable=True)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    cluster_name: Mapped[str | None] = mapped_column(String(80), nullable=True, index=True)
    node_name: Mapped[str | None] = mapped_column(String(160), nullable=True, unique=True)
    node_group: Mapped[str | None] = mapped_column(String(80), nullable=True)
    node_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # whether ndovu's services may run on it (False: the node is stopped); the machine
    # itself stays on, it is the operator's
    powered_on: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClusterKey(Base):
    """A cluster's own SSH key pair, for providers that make the nodes' machines (the
    OpenStack provider registers the public half as a Nova key pair) (migration 0010).

    ``private_key`` is a credential: no read of the API carries it."""

    __tablename__ = "cluster_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_name: Mapped[str] = mapped_column(String(80), unique=True)
    private_key: Mapped[str] = mapped_column(Text)
    public_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NodeHostKey(Base):
    """A node's SSH host key, pinned at first contact; forgotten when its machine is made
    anew (migration 0010)."""

    __tablename__ = "node_host_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster_name: Mapped[str] = mapped_column(String(80), index=True)
    node_name: Mapped[str] = mapped_column(String(160), unique=True)
    host_key: Mapped[str] = mapped_column(Text)
