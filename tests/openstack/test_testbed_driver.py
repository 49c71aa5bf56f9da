"""The test cloud with a data plane: Nova's compute driver tests.openstack.nova_testbed
boots each server as a test bed host, so a server that reaches ACTIVE answers SSH on its
port's address with the key pair's key, and stop, start and delete act on the machine.

The session's cloud (conftest.py), whose computes boot servers on the bed's network this
way; the session's test bed (tests/conftest.py: one bed per machine) is up before them.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from openstack.connection import Connection
from openstack.network.v2.network import Network

from tests.openstack.cloud import IMAGE, Cloud
from tests.openstack.nova_testbed import (
    host_name,
)
from tests.testbed import TestBed, network

pytestmark = [pytest.mark.openstack, pytest.mark.integration, pytest.mark.testbed]

BOOT_TIMEOUT = 90
MAC = "fa:16:3e:0d:0e:01"  # chosen by the test, as the provider chooses its ports' MACs


@pytest.fixture
def bed_network(cloud: Cloud, conn: Connection) -> Network:
    """The test bed's network, owned by the test project (``conn`` empties it after)."""
    network_, _ = cloud.make_testbed_network()
    return network_


@pytest.fixture
def conn(project: Connection) -> Connection:
    return project


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An ed25519 private key file (for ssh -i) and its OpenSSH public key."""
    private = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("keys") / "id_ed25519"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    path.chmod(0o600)
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    return path, public


def boot(conn: Connection, name: str, port_id: str, **attrs: object) -> object:
    server = conn.compute.create_server(
        name=name, flavor_id=conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
        image_id=conn.image.find_image(IMAGE, ignore_missing=False).id,
        networks=[{"port": port_id}], key_name="ndovu-key", **attrs)
    return conn.compute.wait_for_server(server, interval=0.5, wait=BOOT_TIMEOUT)


def settle(conn: Connection, server: object, status: str) -> object:
    """The server once it has ``status`` and no task in progress (fetched afresh: the
    status of the object in hand may be from before the action)."""
    deadline = time.monotonic() + BOOT_TIMEOUT
    while True:
        current = conn.compute.get_server(server.id)
        if current.status == status and current.task_state is None:
            return current
        assert current.status != "ERROR", current.fault
        assert time.monotonic() < deadline, f"{server.id}: {current.status}, not {status}"
        time.sleep(0.3)


def known_hosts(conn: Connection, server: object, address: str, path: Path) -> Path:
    """A known_hosts file with the host key the server prints on its console (between
    cloud-init's markers), as a client of a real cloud learns it."""
    output = conn.compute.get_server_console_output(server)["output"]
    keys = output.split("-----BEGIN SSH HOST KEY KEYS-----\n")[1]
    keys = keys.split("-----END SSH HOST KEY KEYS-----")[0].splitlines()
    path.write_text("".join(f"{address} {' '.join(k.split()[:2])}\n" for k in keys))
    return path


def ssh(key: Path, known: Path, address: str, command: str) -> subprocess.CompletedProcess:
    """``command`` as root on ``address`` with the key pair's key and strict host key
    checking."""
    argv = ["ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known}", "-o", "ConnectTimeout=5",
            "-o", "LogLevel=ERROR", f"root@{address}", "--", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


def sshd_answers(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def test_a_server_is_a_machine_on_its_port_that_stops_starts_and_goes(
        conn: Connection, cloud: Cloud, bed_network: Network, testbed: TestBed,
        key: tuple[Path, str], tmp_path: Path) -> None:
    private, public = key
    conn.compute.create_keypair(name="ndovu-key", public_key=public)
    port = conn.network.create_port(name="ndovu-0", network_id=bed_network.id,
                                    mac_address=MAC)
    address = port.fixed_ips[0]["ip_address"]
    assert ipaddress.ip_address(address) in network.OTHER_HOSTS  # never a bed host's

    started = time.monotonic()
    server = boot(conn, "ndovu-0", port.id)
    print(f"ACTIVE in {time.monotonic() - started:.1f}s")
    assert server.status == "ACTIVE"
    known = known_hosts(conn, server, address, tmp_path / "known_hosts")

    inside = ssh(private, known, address,
                 "hostname; cat /sys/class/net/eth0/address; ip -4 -o addr show dev eth0; "
                 "cat /proc/1/comm")
    assert inside.returncode == 0, inside.stderr
    name, mac, addr, pid1 = inside.stdout.splitlines()
    assert (name, mac, pid1) == (host_name(server.id), MAC, "tini")
    assert f" inet {address}/15 " in addr
    # what Neutron says is what the machine has
    bound = cloud.admin.network.get_port(port.id)
    assert (bound.device_id, bound.mac_address, bound.status) == (server.id, MAC, "ACTIVE")

    # the host is what the driver made: its namespace, its bridge-side veth, its folder
    netns = network.netns_name(host_name(server.id))
    veth = network.other_nic(address, MAC).outside
    folder = testbed.workdir / "hosts" / host_name(server.id)
    assert netns in network.netns_names() and veth in network.link_names()
    assert folder.is_dir()
    # a file on its disk survives stop and start
    assert ssh(private, known, address, "echo kept > /root/mark").returncode == 0

    conn.compute.stop_server(server)
    settle(conn, server, "SHUTOFF")
    assert network.netns_pids(netns) == []  # nothing runs, sshd included
    assert not sshd_answers(address)
    assert ssh(private, known, address, "true").returncode == 255

    conn.compute.start_server(server)
    settle(conn, server, "ACTIVE")
    again = ssh(private, known, address, "cat /root/mark; cat /sys/class/net/eth0/address")
    assert again.returncode == 0, again.stderr  # the same host key: strict checking passes
    assert again.stdout.split() == ["kept", MAC]

    # a reboot: every process of the host starts anew, the disk stays
    before = set(network.netns_pids(netns))
    conn.compute.reboot_server(server, "SOFT")
    settle(conn, server, "ACTIVE")
    assert before.isdisjoint(network.netns_pids(netns))
    rebooted = ssh(private, known, address, "cat /root/mark")
    assert (rebooted.returncode, rebooted.stdout) == (0, "kept\n"), rebooted.stderr

    pids = network.netns_pids(netns)
    assert pids
    conn.compute.delete_server(server)
    conn.compute.wait_for_delete(server, interval=0.5, wait=BOOT_TIMEOUT)
    assert not any(Path(f"/proc/{pid}").exists() for pid in pids)
    assert netns not in network.netns_names()
    assert veth not in network.link_names()
    assert not folder.exists()
    assert not sshd_answers(address)


def test_anti_affinity_puts_two_reachable_servers_on_two_computes(
        conn: Connection, cloud: Cloud, bed_network: Network, key: tuple[Path, str],
        tmp_path: Path) -> None:
    private, public = key
    conn.compute.create_keypair(name="ndovu-key", public_key=public)
    apart = conn.compute.create_server_group(name="ndovu-apart", policy="anti-affinity")
    ports = [conn.network.create_port(name=f"ndovu-{i}", network_id=bed_network.id)
             for i in range(2)]
    # one after the other: members booted side by side may land on one compute and be
    # rescheduled by Nova's late check (slower, a flake risk)
    servers = [boot(conn, f"ndovu-{i}", port.id, scheduler_hints={"group": apart.id})
               for i, port in enumerate(ports)]

    computes = [cloud.admin.compute.get_server(s.id).compute_host for s in servers]
    assert sorted(computes) == ["compute-1", "compute-2"]
    for server, port in zip(servers, ports, strict=True):
        address = port.fixed_ips[0]["ip_address"]
        known = known_hosts(conn, server, address, tmp_path / f"known_hosts-{server.id}")
        result = ssh(private, known, address, "hostname; cat /sys/class/net/eth0/address")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [host_name(server.id), port.mac_address]
    # the two reach each other over the bed's bridge
    first, second = (port.fixed_ips[0]["ip_address"] for port in ports)
    known = known_hosts(conn, servers[0], first, tmp_path / "known_hosts-first")
    probe = ssh(private, known, first,
                f"python3 -c 'import socket; socket.create_connection((\"{second}\", 22), 3)'")
    assert probe.returncode == 0, probe.stderr
