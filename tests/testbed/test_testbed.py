"""The test bed itself: hosts that behave like separate Debian 12 machines over SSH."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.testbed import Host, TestBed, network
from tests.testbed.fixtures import module_hosts, start_hosts

pytestmark = [pytest.mark.integration, pytest.mark.testbed]

# run inside a host: connect to argv[1]:argv[2] within argv[3] seconds, print "connected",
# "timeout" or the errno's name
PROBE = """
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
    print("connected")
except TimeoutError:
    print("timeout")
except OSError as exc:
    print(errno.errorcode.get(exc.errno, str(exc.errno)))
"""


hosts = module_hosts(3, "tb")


def ssh(bed: TestBed, host: Host, command: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        bed.ssh_argv(host, command), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False,
    )


def probe(host: Host, address: str, port: int, timeout: float = 3) -> str:
    argv = ["python3", "-c", PROBE, address, str(port), str(timeout)]
    result = host.run(argv, timeout=timeout + 20, check=True)
    return result.stdout.strip()


def sshd_answers(address: str, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=timeout) as sock:
            sock.settimeout(timeout)
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def test_hosts_answer_over_ssh_with_their_own_names_and_keys(
    testbed: TestBed, hosts: list[Host]
) -> None:
    assert [host.address for host in hosts] == sorted({host.address for host in hosts})
    assert len({host.host_key for host in hosts}) == 3
    for host in hosts:
        assert host.port == 22
        assert host.host_key.startswith("ssh-ed25519 AAAA")
        result = ssh(testbed, host, "hostname; cat /proc/1/comm; id -u")
        assert result.returncode == 0, result.stderr
        assert result.stdout.split() == [host.name, "tini", "0"]
        # root by key only: no password or keyboard-interactive method offered
        denied = subprocess.run(
            ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
             "-o", "StrictHostKeyChecking=yes",
             "-o", f"UserKnownHostsFile={testbed.known_hosts()}", f"root@{host.address}",
             "true"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False,
        )
        assert denied.returncode == 255
        assert "Permission denied (publickey)" in denied.stderr


def test_hosts_do_not_have_the_software_preinstalled(hosts: list[Host]) -> None:
    for package in ("etcd-server", "zookeeper", "default-jre-headless"):
        assert hosts[0].run(["dpkg", "-s", package]).returncode != 0
    sources = hosts[0].run(["cat", "/etc/apt/sources.list"], check=True).stdout
    assert sources.strip().startswith(f"deb [trusted=yes] http://{network.BRIDGE_ADDRESS}:")
    assert hosts[0].run(["ls", "/etc/apt/sources.list.d"], check=True).stdout == ""


def test_hosts_have_their_own_device_nodes(hosts: list[Host]) -> None:
    before = os.stat("/dev/null")
    result = hosts[0].run(["sh", "-c", "chown nobody /dev/null && stat -c %U /dev/null"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "nobody"
    after = os.stat("/dev/null")  # the real machine's /dev/null is untouched
    assert (after.st_uid, after.st_mode) == (before.st_uid, before.st_mode) == (0, 0o20666)
    mounts = hosts[0].run(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "/dev"], check=True).stdout
    assert mounts.startswith("tmpfs")
    sys_options = hosts[0].run(["findmnt", "-n", "-o", "OPTIONS", "/sys"], check=True).stdout
    assert sys_options.startswith("ro,")


def test_hosts_reach_each_other_and_nothing_outside_the_bridge(
    testbed: TestBed, hosts: list[Host]
) -> None:
    first, second, third = hosts
    assert probe(first, second.address, 22) == "connected"
    assert probe(third, first.address, 22) == "connected"
    # 127.0.0.1 is the host's own loopback: the machine's PostgreSQL is not there
    assert probe(first, "127.0.0.1", 5432) == "ECONNREFUSED"
    # no route out of the bridge's network
    assert first.run(["ip", "route", "show", "default"], check=True).stdout == ""
    assert probe(first, "192.0.2.2", 22) == "ENETUNREACH"
    assert probe(first, "1.1.1.1", 80) == "ENETUNREACH"
    # the firewall: the machine's services on 0.0.0.0 stay out of reach ...
    assert probe(first, network.BRIDGE_ADDRESS, 5432) == "EHOSTUNREACH"
    with socket.create_server(("0.0.0.0", 0)) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection((network.BRIDGE_ADDRESS, port), timeout=3):
            pass  # this machine reaches it on the bridge address
        assert probe(first, network.BRIDGE_ADDRESS, port) == "EHOSTUNREACH"
        # ... but a port allowed explicitly is reachable, until taken back
        testbed.allow_port(port)
        assert probe(first, network.BRIDGE_ADDRESS, port) == "connected"
        testbed.disallow_port(port)
        assert probe(first, network.BRIDGE_ADDRESS, port) == "EHOSTUNREACH"
    # and the package repository's port is
    assert testbed.repo is not None
    assert probe(first, network.BRIDGE_ADDRESS, testbed.repo.port) == "connected"


def test_apt_installs_etcd_from_the_test_bed_repository(
    testbed: TestBed, hosts: list[Host]
) -> None:
    started = time.monotonic()
    result = ssh(
        testbed, hosts[0],
        "apt-get update -q && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -q --no-install-recommends etcd-server",
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert f"http://{network.BRIDGE_ADDRESS}:" in result.stdout
    version = ssh(testbed, hosts[0], "etcd --version")
    assert version.returncode == 0, version.stderr
    assert "etcd Version: 3.4" in version.stdout
    print(f"apt-get install etcd-server in a host: {elapsed:.1f}s")
    # the other hosts are separate machines: not installed there
    assert hosts[1].run(["dpkg", "-s", "etcd-server"]).returncode != 0


def test_cut_isolates_a_host_and_restore_reconnects_it(hosts: list[Host]) -> None:
    first, _, third = hosts
    assert sshd_answers(third.address)
    third.cut()
    try:
        assert not sshd_answers(third.address)
        assert probe(first, third.address, 22, timeout=1) in {"timeout", "EHOSTUNREACH"}
        assert probe(third, first.address, 22, timeout=1) in {"timeout", "EHOSTUNREACH"}
    finally:
        third.restore()
    deadline = time.monotonic() + 10
    while not sshd_answers(third.address) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sshd_answers(third.address)
    assert probe(first, third.address, 22) == "connected"


def keyscan(host: Host) -> str:
    result = subprocess.run(
        ["ssh-keyscan", "-T", "5", "-t", "ed25519", host.address],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=True,
    )
    address, algorithm, blob = result.stdout.split()
    assert address == host.address
    return f"{algorithm} {blob}"


def test_change_host_key_changes_the_key_ssh_sees(
    testbed: TestBed, hosts: list[Host], tmp_path: Path
) -> None:
    host = hosts[2]
    old = host.host_key
    assert keyscan(host) == old
    old_known_hosts = testbed.known_hosts(tmp_path / "old_known_hosts")
    new = host.change_host_key()
    assert new == host.host_key != old
    assert keyscan(host) == new
    # strict checking refuses the host with the old key and accepts it with the new one
    stale = subprocess.run(
        host.ssh_argv(testbed.operator_key, old_known_hosts, "true"),
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False,
    )
    assert stale.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in stale.stderr
    assert ssh(testbed, host, "hostname").stdout.strip() == host.name


def test_testbed_hosts_fixture_starts_hosts_quickly(testbed_hosts) -> None:
    started = time.monotonic()
    made = testbed_hosts(2, prefix="quick")
    elapsed = time.monotonic() - started
    assert [host.name for host in made] == ["quick-1", "quick-2"]
    assert all(sshd_answers(host.address) for host in made)
    print(f"2 hosts started in {elapsed:.2f}s")
    assert elapsed < 5


def test_stop_removes_a_host(testbed: TestBed) -> None:
    (host,) = start_hosts(testbed, 1, prefix="stopme")
    pid1, folder = host.pid1, host.folder
    assert pid1 is not None and Path(f"/proc/{pid1}").exists()
    # detached: a kill of the caller's process group or session (`timeout`) misses it
    assert os.getsid(pid1) != os.getsid(0)
    assert os.getpgid(pid1) != os.getpgrp()
    testbed.stop_host(host)
    assert not Path(f"/proc/{pid1}").exists()
    assert not folder.exists()
    assert host.netns not in network.netns_names()
    assert network.veth_name(host.index) not in network.link_names()
    assert not sshd_answers(host.address, timeout=0.5)


def test_close_leaves_nothing_behind(testbed: TestBed, hosts: list[Host]) -> None:
    """Closes the session's test bed (then starts it again for later tests)."""
    for host in hosts:  # this module's hosts; their fixture's teardown is then a no-op
        testbed.stop_host(host)
    if testbed.hosts:
        pytest.skip(f"hosts of other tests are running: {sorted(testbed.hosts)}")
    hosts = start_hosts(testbed, 2, prefix="closing")
    pids = [host.pid1 for host in hosts]
    assert all(pid is not None and Path(f"/proc/{pid}").exists() for pid in pids)
    guest_processes = [int(pid) for host in hosts for pid in network.netns_pids(host.netns)]
    assert len(guest_processes) >= 2 * 3  # unshare, tini, init-script, sshd per host
    workdir = testbed.workdir

    testbed.close()

    assert not any(Path(f"/proc/{pid}").exists() for pid in guest_processes)
    assert not any(name.startswith(network.PREFIX) for name in network.netns_names())
    assert not any(name.startswith(network.PREFIX) for name in network.link_names())
    assert not network.firewall_exists()
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert str(workdir) not in mountinfo
    assert f"/run/netns/{network.PREFIX}" not in mountinfo
    assert list((workdir / "hosts").iterdir()) == []
    commands = [
        path.read_bytes() for path in Path("/proc").glob("[0-9]*/cmdline") if path.exists()
    ]
    assert not any(str(workdir).encode() in command for command in commands)

    testbed.start()  # for the tests that follow in this session
    (again,) = start_hosts(testbed, 1, prefix="again")
    assert again.run(["hostname"], check=True).stdout.strip() == again.name
    testbed.stop_host(again)
