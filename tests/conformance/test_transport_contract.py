"""The Transport contract, run against every implementation.

The same tests run on a LocalTransport (a folder of this machine) and on an
SshTransport logged in to a real sshd on loopback (``tests/conformance/sshd.py``), so
the SSH node is this machine too and the tests can look at its processes directly. A
new transport joins by adding a parameter to ``transport``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncssh
import pytest

from ndovu.transports.base import (
    CommandResult,
    HostKeyError,
    PackageError,
    Transport,
    TransportError,
)
from ndovu.transports.local import LocalTransport, node_processes, read_proc_stat
from ndovu.transports.ssh import SshConnections, SshTarget, SshTransport
from tests.conformance.sshd import Sshd, ensure_openssh_server
from tests.helpers import free_port, wait_until

AS_ROOT = os.geteuid() == 0
ssh = pytest.mark.integration  # a real sshd


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    try:
        ensure_openssh_server()
    except RuntimeError as exc:
        pytest.skip(str(exc))
    server = Sshd.create(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def connections() -> Iterator[SshConnections]:
    shared = SshConnections()
    yield shared
    shared.close()


def ssh_target(sshd: Sshd, root: Path, node: str = "node-1", **changes: object) -> SshTarget:
    fields: dict[str, object] = {
        "node": node, "host": sshd.host, "port": sshd.port, "user": sshd.user,
        "private_key": sshd.private_key, "host_key": sshd.host_key, "root": str(root)}
    fields.update(changes)
    return SshTarget(**fields)  # type: ignore[arg-type]


@pytest.fixture(params=["local", pytest.param("ssh", marks=ssh)])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Transport]:
    root = tmp_path / "node"
    made: LocalTransport | SshTransport
    if request.param == "local":
        root.mkdir()
        made = LocalTransport(root, "127.0.0.1")
    else:
        made = SshTransport(ssh_target(request.getfixturevalue("sshd"), root),
                            request.getfixturevalue("connections"))
    yield made
    made.remove_node(timeout=5)


def root_of(transport: Transport) -> Path:
    return Path(transport.path("x")).parent


def alive(pid: int) -> bool:
    stat = read_proc_stat(pid)
    return stat is not None and not stat.exited


def stat_of(transport: Transport, relative: str) -> str:
    result = transport.run(["stat", "-c", "%a %U", relative])
    assert result.ok, result.summary()
    return result.stdout.strip()


# -- files ------------------------------------------------------------------------------

def test_is_a_transport(transport: Transport) -> None:
    assert isinstance(transport, Transport)
    assert transport.address == "127.0.0.1"


def test_files_text_and_bytes_keep_their_mode(transport: Transport) -> None:
    assert transport.read_file("conf/missing.cfg") is None
    transport.write_file("conf/secret.cfg", "a=1\n", mode=0o600)
    transport.write_file("conf/secret.cfg", "a=2 ünïcode\n", mode=0o600)
    assert transport.read_file("conf/secret.cfg") == "a=2 ünïcode\n"
    assert stat_of(transport, "conf/secret.cfg").split()[0] == "600"
    transport.write_file("bin/tool", b"#!/bin/sh\necho tool \"$@\"\n", mode=0o755)
    assert stat_of(transport, "bin/tool").split()[0] == "755"
    assert transport.run(["bin/tool", "x"]).stdout == "tool x\n"
    # atomic: a temporary name renamed into place leaves nothing beside the file
    assert sorted(os.listdir(root_of(transport) / "conf")) == ["secret.cfg"]


@pytest.mark.skipif(not AS_ROOT, reason="changing a file's owner needs root")
def test_write_file_gives_the_file_to_its_owner(transport: Transport) -> None:
    transport.write_file("conf/owned.cfg", "x\n", mode=0o640, owner="nobody")
    assert stat_of(transport, "conf/owned.cfg") == "640 nobody"


def test_upload_file(transport: Transport, tmp_path: Path) -> None:
    source = tmp_path / "payload.bin"
    source.write_bytes(bytes(range(256)) * 4096)  # 1 MiB, every byte value
    transport.upload_file("depot/payload.bin", str(source), mode=0o640)
    assert (root_of(transport) / "depot/payload.bin").read_bytes() == source.read_bytes()
    assert stat_of(transport, "depot/payload.bin").split()[0] == "640"
    with pytest.raises(FileNotFoundError):
        transport.upload_file("depot/none", str(tmp_path / "missing"))


def test_paths_stay_in_the_node(transport: Transport, tmp_path: Path) -> None:
    for bad in ("../outside", "/etc/passwd", "conf/../../outside", "", ".."):
        with pytest.raises(ValueError):
            transport.path(bad)
        with pytest.raises(ValueError):
            transport.write_file(bad, "x")
        with pytest.raises(ValueError):
            transport.read_file(bad)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert transport.run(["ln", "-s", str(outside), "link"]).ok
    with pytest.raises(ValueError):
        transport.write_file("link/file", "x")
    assert list(outside.iterdir()) == []
    assert transport.path("conf/zoo.cfg") == str(root_of(transport) / "conf/zoo.cfg")


# -- commands -----------------------------------------------------------------------------

def test_run_passes_arguments_verbatim(transport: Transport) -> None:
    arguments = ["two words", "it's", 'say "hi"', "a;b", "$(touch INJECTED)",
                 "`touch INJECTED`", "$HOME", "*", "back\\slash", "line\nbreak", ""]
    result = transport.run(["printf", "[%s]", *arguments])
    assert result.ok, result.summary()
    assert result.stdout == "".join(f"[{a}]" for a in arguments)
    assert transport.read_file("INJECTED") is None  # nothing ran in a shell


def test_run_env_folder_and_status(transport: Transport) -> None:
    result = transport.run(["sh", "-c", 'echo "$A|$NDOVU_NODE_ROOT"; pwd; echo oops >&2; '
                                        "exit 3"], env={"A": "b c $(d)"})
    root = str(root_of(transport))
    assert result == CommandResult(3, f"b c $(d)|{root}\n{root}\n", "oops\n")
    assert not result.ok and result.summary() == "oops"
    missing = transport.run(["no-such-command-ndovu"])
    assert missing.returncode == 127 and "no-such-command-ndovu" in missing.stderr
    with pytest.raises(ValueError):
        transport.run(["true"], env={"BAD NAME": "x"})


def test_run_timeout_kills_the_command_and_its_children(transport: Transport) -> None:
    started = time.monotonic()
    # the background sleep keeps the output open: a naive wait would hang
    result = transport.run(["sh", "-c", "echo started; sleep 60 & sleep 60"], timeout=1)
    assert time.monotonic() - started < 10
    assert result.returncode == 124
    assert "timed out after 1 s" in result.stderr
    assert result.stdout == "started\n"
    wait_until(lambda: node_processes(root_of(transport)) == [], timeout=10,
               what="the sleeps to die")


@pytest.mark.skipif(not AS_ROOT, reason="no sudo setup to test against")
def test_privileged_runs_as_root(transport: Transport) -> None:
    assert transport.run(["id", "-u"], privileged=True).stdout == "0\n"


# -- packages -----------------------------------------------------------------------------

def spy_on_run(transport: Transport, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    ran: list[list[str]] = []
    real = transport.run

    def spy(argv: Sequence[str], *, timeout: float = 60.0,
            env: Mapping[str, str] | None = None, privileged: bool = False) -> CommandResult:
        ran.append(list(argv))
        return real(argv, timeout=timeout, env=env, privileged=privileged)

    monkeypatch.setattr(transport, "run", spy)
    return ran


needs_apt = pytest.mark.skipif(not (shutil.which("dpkg-query") and shutil.which("apt-get")),
                               reason="needs a Debian-family machine")


@needs_apt
def test_install_packages_that_are_there_runs_no_package_manager(
        transport: Transport, monkeypatch: pytest.MonkeyPatch) -> None:
    ran = spy_on_run(transport, monkeypatch)
    transport.install_packages(["coreutils", "dpkg"])
    assert ran and ran[-1][0] == "dpkg-query"  # asked the package database, and stopped
    assert not [argv for argv in ran if "apt-get" in argv]
    transport.install_packages([])


@needs_apt
@pytest.mark.skipif(not AS_ROOT, reason="apt-get needs root")
def test_install_of_an_unknown_package_says_what_failed(transport: Transport) -> None:
    with pytest.raises(PackageError) as caught:
        transport.install_packages(["coreutils", "ndovu-no-such-package"], timeout=300)
    message = caught.value.message
    assert "ndovu-no-such-package" in message and "coreutils" not in message
    assert "apt-get failed" in message and "Unable to locate package" in message
    assert caught.value.hint
    with pytest.raises(ValueError):
        transport.install_packages(["-oops"])


# -- services -----------------------------------------------------------------------------

# a service that starts a child and waits for it, printing its environment
PARENT_WITH_CHILD = ["sh", "-c", 'echo "started $NDOVU_SERVICE $X"; sleep 120 & '
                                 "echo $! > child.pid; wait"]


def pid_of(transport: Transport, name: str) -> int:
    text = transport.read_file(f"run/{name}.pid")
    assert text is not None
    return int(text.split()[0])


def test_service_lifecycle(transport: Transport) -> None:
    assert not transport.service_running("svc")
    assert transport.running_services() == []
    transport.start_service("svc", PARENT_WITH_CHILD, env={"X": "y z"})
    wait_until(lambda: transport.read_file("child.pid"), timeout=10, what="the child")
    parent, child = pid_of(transport, "svc"), int(transport.read_file("child.pid") or 0)
    transport.start_service("svc", PARENT_WITH_CHILD, env={"X": "again"})  # a no-op
    assert pid_of(transport, "svc") == parent
    assert transport.service_running("svc")
    assert transport.running_services() == ["svc"]
    assert transport.service_log_tail("svc") == "started svc y z"
    assert alive(parent) and alive(child)

    started = time.monotonic()
    transport.stop_service("svc", timeout=5)
    assert time.monotonic() - started < 5
    assert not alive(parent) and not alive(child)  # the whole group
    assert not transport.service_running("svc")
    assert transport.running_services() == []
    assert node_processes(root_of(transport)) == []
    transport.stop_service("svc", timeout=5)  # a no-op
    transport.stop_service("never-started", timeout=5)


def test_stop_escalates_to_sigkill(transport: Transport) -> None:
    stubborn = ["sh", "-c", "trap '' TERM; touch ready; sleep 120"]  # sleep ignores it too
    transport.start_service("stubborn", stubborn)
    wait_until(lambda: transport.read_file("ready") is not None, timeout=10, what="ready")
    started = time.monotonic()
    transport.stop_service("stubborn", timeout=0.5)
    assert 0.4 < time.monotonic() - started < 10
    assert not transport.service_running("stubborn")
    assert node_processes(root_of(transport)) == []


def test_a_service_that_exits_is_not_running_and_keeps_its_log(transport: Transport) -> None:
    transport.start_service("count", ["sh", "-c", "for i in 1 2 3 4 5; do echo $i; done"])
    wait_until(lambda: not transport.service_running("count"), timeout=10, what="the exit")
    assert transport.service_log_tail("count", 2) == "4\n5"
    transport.start_service("count", ["echo", "again"])
    wait_until(lambda: not transport.service_running("count"), timeout=10, what="the exit")
    assert transport.service_log_tail("count", 3) == "4\n5\nagain"  # appended
    assert transport.service_log_tail("never-started") == ""
    with pytest.raises(ValueError):
        transport.start_service("../evil", ["true"])


def test_remove_node_stops_everything_and_is_idempotent(transport: Transport) -> None:
    transport.start_service("one", PARENT_WITH_CHILD)
    transport.write_file("data/x", "1")
    wait_until(lambda: len(node_processes(root_of(transport))) == 2, timeout=10,
               what="two processes")
    transport.remove_node(timeout=5)
    assert node_processes(root_of(transport)) == []
    assert not root_of(transport).exists()
    transport.remove_node(timeout=5)


def test_wait_reachable(transport: Transport) -> None:
    transport.wait_reachable(timeout=5)


# -- SSH only -----------------------------------------------------------------------------

@ssh
def test_first_contact_reports_the_host_key(sshd: Sshd, tmp_path: Path) -> None:
    seen: list[str] = []
    connections = SshConnections()
    try:
        node = SshTransport(ssh_target(sshd, tmp_path, host_key=None), connections,
                            on_host_key=seen.append)
        assert node.run(["true"]).ok
        assert node.run(["true"]).ok
        assert seen == [sshd.host_key]  # once, the line as pinned later
    finally:
        connections.close()


@ssh
def test_a_changed_host_key_is_refused_before_login(sshd: Sshd, tmp_path: Path) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519")
    pinned = impostor.export_public_key().decode().strip()
    connections = SshConnections()
    try:
        node = SshTransport(ssh_target(sshd, tmp_path / "node", node="zk-0", host_key=pinned),
                            connections)
        with pytest.raises(HostKeyError) as caught:
            node.run(["touch", "logged-in"])
        error = caught.value
        assert not error.retryable
        real = asyncssh.import_public_key(sshd.host_key).get_fingerprint("sha256")
        for part in ("zk-0", sshd.host, impostor.get_fingerprint("sha256"), real):
            assert part in error.message
        assert "reinstalled" in (error.hint or "")
        assert connections.opened == 0
        assert not (tmp_path / "node").exists()  # nothing ran

        # a connection another transport opened at first contact is not reused either
        SshTransport(ssh_target(sshd, tmp_path / "n2", host_key=None), connections).run(
            ["true"])
        with pytest.raises(HostKeyError):
            node.run(["true"])
    finally:
        connections.close()


@ssh
def test_a_key_the_machine_does_not_accept_is_not_retried(sshd: Sshd, tmp_path: Path) -> None:
    other = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    connections = SshConnections()
    try:
        target = ssh_target(sshd, tmp_path, private_key=other)
        with pytest.raises(TransportError) as caught:
            SshTransport(target, connections).run(["true"])
        assert not caught.value.retryable
        assert "does not accept" in caught.value.message and "root" in caught.value.message
        for text in (str(caught.value), repr(caught.value), caught.value.hint or "",
                     repr(target), repr(SshTransport(target, connections))):
            assert other not in text and "PRIVATE KEY" not in text
        with pytest.raises(TransportError) as garbled:
            SshTransport(ssh_target(sshd, tmp_path, private_key="not a key"),
                         connections).run(["true"])
        assert not garbled.value.retryable and "not a key" not in str(garbled.value)
    finally:
        connections.close()


@ssh
def test_a_refused_port_is_retryable_and_named(sshd: Sshd, tmp_path: Path) -> None:
    connections = SshConnections(connect_timeout=2)
    try:
        node = SshTransport(ssh_target(sshd, tmp_path, port=free_port()), connections)
        with pytest.raises(TransportError) as caught:
            node.run(["true"])
        assert caught.value.retryable and sshd.host in caught.value.message
        started = time.monotonic()
        with pytest.raises(TransportError) as waited:
            node.wait_reachable(timeout=1.5)
        assert time.monotonic() - started < 6
        assert "did not answer" in waited.value.message and sshd.host in waited.value.message
    finally:
        connections.close()


@ssh
def test_one_connection_serves_every_transport_and_thread(sshd: Sshd, tmp_path: Path) -> None:
    connections = SshConnections()
    try:
        nodes = [SshTransport(ssh_target(sshd, tmp_path / f"n{i}", node=f"n{i}"), connections)
                 for i in range(3)]
        # more at once than sshd allows sessions on one connection (MaxSessions 10)
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(lambda i: nodes[i % 3].run(["echo", str(i)]), range(24)))
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(24)]
        assert SshTransport(nodes[0].target, connections).read_file("missing") is None
        assert connections.opened == 1
    finally:
        connections.close()


@ssh
def test_a_broken_connection_is_opened_again(sshd: Sshd, tmp_path: Path) -> None:
    connections = SshConnections()
    try:
        node = SshTransport(ssh_target(sshd, tmp_path), connections)
        assert node.run(["true"]).ok
        sshd.kill_sessions()
        wait_until(lambda: not sshd.session_pids(), timeout=5, what="the sessions to die")
        assert node.run(["echo", "back"]).stdout == "back\n"
        assert connections.opened == 2
        sshd.restart()
        assert node.run(["echo", "again"]).stdout == "again\n"
        assert connections.opened == 3
    finally:
        connections.close()


@ssh
def test_concurrent_first_calls_share_one_connect(sshd: Sshd, tmp_path: Path) -> None:
    connections = SshConnections()
    try:
        node = SshTransport(ssh_target(sshd, tmp_path), connections)
        barrier = threading.Barrier(4)

        def first_call(_: int) -> bool:
            barrier.wait()
            return node.service_running("none")

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(first_call, range(4))) == [False] * 4
        assert connections.opened == 1
    finally:
        connections.close()

