"""The status vocabularies shared by every layer, with BDE's names and values."""

from __future__ import annotations

from enum import StrEnum


class ClusterStatus(StrEnum):
    PROVISIONING = "PROVISIONING"
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    UPDATING = "UPDATING"
    DELETING = "DELETING"
    PROVISION_ERROR = "PROVISION_ERROR"
    ERROR = "ERROR"
    STARTING = "STARTING"
    STOPPING = "STOPPING"
    CONFIGURING = "CONFIGURING"
    # set by watching a cluster at rest (ndovu.engine.observer): some nodes are unhealthy,
    # or none serves
    SERVICE_WARNING = "SERVICE_WARNING"
    SERVICE_STOPPED = "SERVICE_STOPPED"
    # BDE's status while a node group's VMs get new CPU or memory (scale)
    VMRECONFIGURING = "VMRECONFIGURING"


class NodeStatus(StrEnum):
    NOT_EXIST = "NOT_EXIST"
    # the node's machine is there but ndovu cannot reach it (seen when watching)
    DISCONNECTED = "DISCONNECTED"
    POWERED_OFF = "POWERED_OFF"
    POWERED_ON = "POWERED_ON"
    VM_READY = "VM_READY"
    BOOTSTRAP_FAILED = "BOOTSTRAP_FAILED"
    SERVICE_UNHEALTHY = "SERVICE_UNHEALTHY"
    SERVICE_READY = "SERVICE_READY"
    UNKNOWN = "UNKNOWN"


class TaskStatus(StrEnum):
    """BDE's TaskRead.Status. STARTING = accepted, not yet picked up by an engine."""

    STARTING = "STARTING"
    STARTED = "STARTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"


TERMINAL_TASK_STATUSES = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED,
                                    TaskStatus.ABANDONED})


class OperationType(StrEnum):
    CREATE = "CREATE"
    DELETE = "DELETE"
    START = "START"
    STOP = "STOP"
    # a node group's instance count changes (BDE: PUT .../nodegroup/{g}/instancenum)
    RESIZE = "RESIZE"
    # a node group's nodes get new CPU / memory (BDE: PUT .../nodegroup/{g}/scale)
    SCALE = "SCALE"
    # ndovu repairs a running cluster by itself (its healing policy): starts again what
    # stopped
    HEAL = "HEAL"


class Desired(StrEnum):
    """What a cluster should be (Cluster.desired); the engine makes it so."""

    RUNNING = "running"
    STOPPED = "stopped"
    ABSENT = "absent"
