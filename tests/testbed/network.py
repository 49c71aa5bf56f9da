"""The test bed's network: a bridge, veth pairs into network namespaces, a firewall.

Every kernel object the test bed makes is named with :data:`PREFIX`, so the leftovers
of a crashed run are found and removed by name (:func:`remove_leftovers`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.testbed.commands import TestBedError, run

PREFIX = "ndovutb"
BRIDGE = f"{PREFIX}0"
NFT_TABLE = PREFIX  # in the inet family
BRIDGE_ADDRESS = "198.18.7.1"
PREFIX_LENGTH = 24
FIRST_HOST_INDEX = 11
LAST_HOST_INDEX = 254
# locally administered MACs, fixed per index: 02:6e:64 ("nd"), then 07, role, index
BRIDGE_MAC = "02:6e:64:07:00:01"
# Addresses for hosts made outside TestBed.add_hosts (the test cloud's Nova driver boots
# servers as hosts, on ports Neutron addressed from this range): never an index-based
# 198.18.7.x. Such hosts have 198.18.0.0/15 on their eth0 (198.18.7.1 is then on-link
# for them); this machine reaches the range through a route on the bridge.
OTHER_HOSTS = ipaddress.IPv4Network("198.18.8.0/22")
WHOLE_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")


@dataclass(frozen=True)
class Nic:
    """A host's veth pair: ``outside`` (MAC ``outside_mac``) in the bridge, ``eth0`` (MAC
    ``mac``) with ``address``/``prefix_length`` in the host's namespace."""

    outside: str
    address: str
    prefix_length: int
    mac: str
    outside_mac: str


def host_address(index: int) -> str:
    """198.18.7.<index>."""
    if not FIRST_HOST_INDEX <= index <= LAST_HOST_INDEX:
        raise TestBedError(f"host index {index} outside {FIRST_HOST_INDEX}..{LAST_HOST_INDEX}")
    return str(ipaddress.IPv4Address(BRIDGE_ADDRESS) + (index - 1))


def netns_name(host_name: str) -> str:
    return f"{PREFIX}-{host_name}"


def veth_name(index: int) -> str:
    """The host-side end of a host's veth pair (the guest side is ``eth0``)."""
    return f"{PREFIX}-h{index}"


def _mac(role: int, index: int) -> str:
    return f"02:6e:64:07:{role:02x}:{index:02x}"


def index_nic(index: int) -> Nic:
    """The NIC of the bed's host number ``index``."""
    return Nic(outside=veth_name(index), address=host_address(index),
               prefix_length=PREFIX_LENGTH, mac=_mac(2, index), outside_mac=_mac(1, index))


def on_bed(address: str) -> bool:
    """Whether ``address`` is on the bed's network at all."""
    return ipaddress.IPv4Address(address) in WHOLE_NETWORK


def other_nic(address: str, mac: str) -> Nic:
    """The NIC of a host made outside the bed with ``address`` (in :data:`OTHER_HOSTS`)
    and the guest-side ``mac``: the bridge-side name and MAC come from the address's last
    two bytes, so two such hosts never share them, nor with the bed's own hosts."""
    ip = ipaddress.IPv4Address(address)
    if ip not in OTHER_HOSTS or ip in (OTHER_HOSTS.network_address,
                                       OTHER_HOSTS.broadcast_address):
        raise TestBedError(f"{address} is not a host address of {OTHER_HOSTS}")
    high, low = ip.packed[2:]
    return Nic(outside=f"{PREFIX}-o{high:02x}{low:02x}", address=address,
               prefix_length=WHOLE_NETWORK.prefixlen, mac=mac,
               outside_mac=f"02:6e:64:08:{high:02x}:{low:02x}")


def make_bridge() -> None:
    """The bridge with the host side's address; no IPv6 on it (guests reach nothing by v6)."""
    run(["ip", "link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge",
         "stp_state", "0", "forward_delay", "0"])
    Path(f"/proc/sys/net/ipv6/conf/{BRIDGE}/disable_ipv6").write_text("1\n")
    run(["ip", "addr", "add", f"{BRIDGE_ADDRESS}/{PREFIX_LENGTH}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    # on-link: hosts in OTHER_HOSTS answer ARP for their address (gone with the bridge)
    run(["ip", "route", "add", str(OTHER_HOSTS), "dev", BRIDGE, "src", BRIDGE_ADDRESS])


def make_firewall(repo_port: int) -> None:
    """Guests may reach on this machine only the repository's port, the ports given to
    :func:`allow_port`, and answers to connections this machine opened; nothing is
    forwarded between the bridge and other interfaces."""
    ruleset = f"""
table inet {NFT_TABLE} {{
    set allowed_tcp {{ type inet_service; }}
    chain input {{
        type filter hook input priority filter - 10; policy accept;
        iifname != "{BRIDGE}" accept
        ct state established,related accept
        ip daddr {BRIDGE_ADDRESS} tcp dport @allowed_tcp accept
        ip daddr {BRIDGE_ADDRESS} icmp type echo-request accept
        reject with icmpx type admin-prohibited
    }}
    chain forward {{
        type filter hook forward priority filter - 10; policy accept;
        iifname "{BRIDGE}" oifname != "{BRIDGE}" drop
        oifname "{BRIDGE}" iifname != "{BRIDGE}" drop
    }}
}}
"""
    run(["nft", "-f", "-"], input=ruleset)
    allow_port(repo_port)


def allow_port(port: int) -> None:
    """Let the guests reach TCP ``port`` on the bridge address."""
    run(["nft", "add", "element", "inet", NFT_TABLE, "allowed_tcp", f"{{ {_port(port)} }}"])


def disallow_port(port: int) -> None:
    """Take ``port`` back: the kernel hands a freed port out again, and a later test's
    listener on it must not be reachable by accident."""
    run(["nft", "delete", "element", "inet", NFT_TABLE, "allowed_tcp",
         f"{{ {_port(port)} }}"], check=False)


def _port(port: int) -> int:
    if not isinstance(port, int) or not 0 < port < 65536:
        raise TestBedError(f"not a TCP port: {port!r}")
    return port


def add_veth(nic: Nic, netns: str) -> None:
    """A veth pair: ``nic.outside`` in the bridge, ``eth0`` with the host's address in
    ``netns``; loopback up; no default route."""
    run(["ip", "link", "add", nic.outside, "address", nic.outside_mac, "type", "veth",
         "peer", "name", "eth0", "address", nic.mac, "netns", netns])
    run(["ip", "link", "set", nic.outside, "master", BRIDGE, "up"])
    batch = (
        f"addr add {nic.address}/{nic.prefix_length} dev eth0\n"
        "link set eth0 up\n"
        "link set lo up\n"
    )
    run(["ip", "-n", netns, "-batch", "-"], input=batch)


def set_link(name: str, up: bool) -> None:
    """Host-side end of a host's veth up or down (down: a network partition)."""
    run(["ip", "link", "set", name, "up" if up else "down"])


def link_names() -> list[str]:
    result = run(["ip", "-j", "link", "show"])
    return [link["ifname"] for link in json.loads(result.stdout or "[]")]


def netns_names() -> list[str]:
    result = run(["ip", "-j", "netns", "list"], check=False)
    if result.returncode != 0 or not result.stdout.strip():
        return []
    return [entry["name"] for entry in json.loads(result.stdout)]


def netns_pids(netns: str) -> list[int]:
    result = run(["ip", "netns", "pids", netns], check=False)
    return [int(pid) for pid in result.stdout.split()]


def kill_netns_processes(netns: str, timeout: float = 10.0) -> None:
    """SIGKILL every process in ``netns`` (a guest's PID 1 takes its PID namespace with
    it) and wait until none is left."""
    deadline = time.monotonic() + timeout
    while pids := netns_pids(netns):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise TestBedError(f"processes {pids} in netns {netns} do not die")
        time.sleep(0.05)


def delete_netns(netns: str) -> None:
    run(["ip", "netns", "delete", netns], check=False)


def delete_link(name: str) -> None:
    run(["ip", "link", "delete", name], check=False)


def delete_firewall() -> None:
    run(["nft", "delete", "table", "inet", NFT_TABLE], check=False)


def firewall_exists() -> bool:
    return run(["nft", "list", "table", "inet", NFT_TABLE], check=False).returncode == 0


def remove_leftovers() -> list[str]:
    """Remove every namespace, link and firewall table named with the prefix (with the
    processes in those namespaces). Returns what was removed."""
    removed: list[str] = []
    for netns in netns_names():
        if netns.startswith(f"{PREFIX}-"):
            kill_netns_processes(netns)
            delete_netns(netns)
            removed.append(f"netns {netns}")
    for link in link_names():
        if link.startswith(PREFIX):
            delete_link(link)
            removed.append(f"link {link}")
    if firewall_exists():
        delete_firewall()
        removed.append(f"nft table inet {NFT_TABLE}")
    return removed
