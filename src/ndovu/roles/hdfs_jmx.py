"""What a NameNode says about HDFS over HTTP: its JMX servlet (``/jmx``), read as JSON.

One GET answers in milliseconds, where each HDFS shell or dfsadmin call starts a JVM
(3-7 s), so health probes and the decommission wait read the NameNode's beans instead:
``NameNodeStatus`` (its HA state, "active" once it serves clients) and ``NameNodeInfo``
(safe mode, and every DataNode it knows: live ones with their admin state, dead ones,
and the blocks each decommissioning one still has to see copied). The DataNode maps are
JSON text inside the JSON, keyed "<registered host>:<transfer port>"; the host is the
DataNode's ``dfs.datanode.hostname``, which ndovu sets to the node's address.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

IN_SERVICE = "In Service"
DECOMMISSIONING = "Decommission In Progress"
DECOMMISSIONED = "Decommissioned"
DEAD = "Dead"
TIMEOUT_S = 3.0

# no proxy: the NameNode is on an address of the cluster's network, often loopback
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class DataNodeView:
    address: str  # the host it registered under
    admin_state: str  # IN_SERVICE, DECOMMISSIONING, DECOMMISSIONED, or DEAD
    alive: bool


@dataclass(frozen=True)
class NameNodeView:
    safemode: str  # "" when off, else the NameNode's own words
    datanodes: dict[str, DataNodeView] = field(default_factory=dict)  # by address
    # address -> blocks that still lack replicas elsewhere, for decommissioning nodes
    blocks_to_copy: dict[str, int] = field(default_factory=dict)


def bean(address: str, port: int, name: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    """The attributes of the NameNode's bean ``Hadoop:service=NameNode,name=<name>``;
    ValueError when the NameNode has no such bean (yet), OSError when it does not answer."""
    query = urllib.parse.quote(f"Hadoop:service=NameNode,name={name}", safe=":=,")
    url = f"http://{address}:{port}/jmx?qry={query}"
    with _OPENER.open(url, timeout=timeout) as response:
        beans = json.loads(response.read(16 << 20).decode("utf-8")).get("beans") or []
    if not beans or not isinstance(beans[0], dict):
        raise ValueError(f"{url} has no {name} bean")
    return beans[0]


def namenode_state(address: str, port: int) -> str:
    """The NameNode's HA state: "active" once it serves clients."""
    return str(bean(address, port, "NameNodeStatus").get("State") or "")


def namenode_view(address: str, port: int) -> NameNodeView:
    return parse_namenode_info(bean(address, port, "NameNodeInfo"))


def _nodes(text: Any) -> dict[str, Any]:
    try:
        nodes = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return nodes if isinstance(nodes, dict) else {}


def _host(key: str) -> str:
    return key.rsplit(":", 1)[0]


def parse_namenode_info(info: Mapping[str, Any]) -> NameNodeView:
    """A ``NameNodeInfo`` bean as a NameNodeView."""
    datanodes = {}
    for key, node in _nodes(info.get("DeadNodes")).items():
        state = DECOMMISSIONED if isinstance(node, dict) and node.get("decommissioned") else DEAD
        datanodes[_host(key)] = DataNodeView(_host(key), state, alive=False)
    for key, node in _nodes(info.get("LiveNodes")).items():  # live wins over a stale dead
        state = str(node.get("adminState") or IN_SERVICE) if isinstance(node, dict) else IN_SERVICE
        datanodes[_host(key)] = DataNodeView(_host(key), state, alive=True)
    blocks = {_host(key): int(node.get("underReplicatedBlocks") or 0)
              for key, node in _nodes(info.get("DecomNodes")).items() if isinstance(node, dict)}
    return NameNodeView(str(info.get("Safemode") or ""), datanodes, blocks)
