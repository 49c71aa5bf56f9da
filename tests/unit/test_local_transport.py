"""LocalTransport with real processes: tiny Python programs stand in for services."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ndovu.transports import local
from ndovu.transports.base import CommandResult, Transport
from ndovu.transports.local import (
    LocalTransport,
    node_processes,
    read_proc_stat,
    stop_all_services,
)

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
# a service that spawns a child in its own process group, then sleeps
PARENT_WITH_CHILD = [
    sys.executable, "-c",
    "import subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', '120'])\n"
    "open('child.pid', 'w').write(str(child.pid))\n"
    "time.sleep(120)\n",
]


def alive(pid: int) -> bool:
    stat = read_proc_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def wait_for(predicate, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def transport(tmp_path: Path) -> Iterator[LocalTransport]:
    node = LocalTransport(tmp_path / "node", "127.0.0.1")
    node.root.mkdir()
    yield node
    stop_all_services(node.root, timeout=5)


def test_is_a_transport(transport: LocalTransport) -> None:
    assert isinstance(transport, Transport)


def test_start_twice_runs_one_process(transport: LocalTransport) -> None:
    transport.start_service("sleeper", SLEEPER)
    first = transport.read_file("run/sleeper.pid")
    transport.start_service("sleeper", SLEEPER)
    assert transport.read_file("run/sleeper.pid") == first
    assert transport.service_running("sleeper")
    assert transport.running_services() == ["sleeper"]
    assert len(node_processes(transport.root)) == 1

    pid, starttime = map(int, first.split())
    stat = read_proc_stat(pid)
    assert stat is not None and stat.starttime == starttime
    assert stat.pgrp == pid  # its own process group


def test_stop_kills_the_whole_group(transport: LocalTransport) -> None:
    transport.start_service("parent", PARENT_WITH_CHILD)
    wait_for(lambda: transport.read_file("child.pid"), "the service's child")
    parent = int(transport.read_file("run/parent.pid").split()[0])
    child = int(transport.read_file("child.pid"))
    assert alive(parent) and alive(child)

    started = time.monotonic()
    transport.stop_service("parent", timeout=5)
    assert time.monotonic() - started < 5

    assert not alive(parent)
    assert not alive(child)
    assert not transport.service_running("parent")
    assert transport.read_file("run/parent.pid") is None
    assert node_processes(transport.root) == []
    transport.stop_service("parent")  # idempotent


def test_stop_escalates_to_sigkill(transport: LocalTransport) -> None:
    stubborn = [sys.executable, "-c",
                "import signal, time\n"
                "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                "open('ready', 'w').close()\n"
                "time.sleep(120)\n"]
    transport.start_service("stubborn", stubborn)
    wait_for(lambda: transport.read_file("ready") is not None, "the handler")
    started = time.monotonic()
    transport.stop_service("stubborn", timeout=0.5)
    assert 0.4 < time.monotonic() - started < 5
    assert not transport.service_running("stubborn")
    assert node_processes(transport.root) == []


def test_dead_service_is_not_running(transport: LocalTransport) -> None:
    transport.start_service("quick", [sys.executable, "-c", "print('bye')"])
    # the server is its parent: unless reaped, it would linger as a zombie
    wait_for(lambda: not transport.service_running("quick"), "the service to exit")
    pid = int(transport.read_file("run/quick.pid").split()[0])
    assert read_proc_stat(pid) is None  # reaped, not a zombie
    assert transport.running_services() == []
    assert transport.service_log_tail("quick") == "bye"
    transport.start_service("quick", [sys.executable, "-c", "print('again')"])
    wait_for(lambda: not transport.service_running("quick"), "the second run")
    assert transport.service_log_tail("quick", 2) == "bye\nagain"  # appended


def test_zombie_leader_with_live_threads_is_running(transport: LocalTransport) -> None:
    # what a JVM looks like while it exits: the leader thread is a zombie but other
    # threads still hold its sockets; it must not count as gone before they finish
    program = [sys.executable, "-c",
               "import ctypes, threading, time\n"
               "threading.Thread(target=time.sleep, args=(120,)).start()\n"
               "ctypes.CDLL(None).pthread_exit(None)\n"]
    transport.start_service("threads", program)
    pid = int(transport.read_file("run/threads.pid").split()[0])
    wait_for(lambda: read_proc_stat(pid).state == "Z", "the leader thread to exit")
    assert read_proc_stat(pid).num_threads == 2
    assert transport.service_running("threads")
    assert node_processes(transport.root) == [pid]
    transport.stop_service("threads", timeout=5)
    assert not transport.service_running("threads")
    assert read_proc_stat(pid) is None  # fully exited and reaped


def test_reused_pid_is_not_our_service(transport: LocalTransport) -> None:
    # an unrelated process group leader holds the pid our pid file names
    stranger = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        stat = read_proc_stat(stranger.pid)
        assert stat is not None
        transport.write_file("run/ghost.pid", f"{stranger.pid} {stat.starttime + 1}\n")
        assert not transport.service_running("ghost")
        assert transport.running_services() == []
        transport.stop_service("ghost", timeout=1)
        assert alive(stranger.pid), "stop_service killed a process that is not ours"
        assert transport.read_file("run/ghost.pid") is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_new_transport_finds_running_services(transport: LocalTransport) -> None:
    # what a restarted server does: no memory, only the pid files
    transport.start_service("sleeper", SLEEPER)
    again = LocalTransport(transport.root, transport.address)
    assert again.running_services() == ["sleeper"]
    again.stop_service("sleeper", timeout=5)
    assert not transport.service_running("sleeper")


def test_a_service_whose_pid_file_a_crash_kept_is_found_not_started_again(
        transport: LocalTransport) -> None:
    # a server killed between starting a service and writing its pid file (kill -9)
    transport.start_service("svc", SLEEPER)
    pid_file = transport.root / "run" / "svc.pid"
    pid = int(pid_file.read_text().split()[0])
    pid_file.unlink()
    restarted = LocalTransport(transport.root, transport.address)
    assert restarted.service_running("svc")  # found by its environment, and recorded
    assert int(pid_file.read_text().split()[0]) == pid
    pid_file.unlink()
    restarted.start_service("svc", SLEEPER)  # adopts it: no second process
    assert int(pid_file.read_text().split()[0]) == pid
    assert node_processes(transport.root) == [pid]
    pid_file.unlink()
    restarted.stop_service("svc")  # and a stop finds it too
    wait_for(lambda: not alive(pid), "the unrecorded service to stop")
    assert not pid_file.exists()


def test_service_environment(transport: LocalTransport,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDOVU_SECRET", "hunter2")
    monkeypatch.setenv("KEEP_ME", "yes")
    program = ("import os, json; print(json.dumps({k: os.environ.get(k) for k in "
               "['NDOVU_SECRET', 'NDOVU_NODE_ROOT', 'KEEP_ME', 'EXTRA']})); "
               "print(os.getcwd())")
    transport.start_service("env", [sys.executable, "-c", program], env={"EXTRA": "1"})
    wait_for(lambda: not transport.service_running("env"), "the service to exit")
    printed, cwd = transport.service_log_tail("env", 2).splitlines()
    assert json.loads(printed) == {"NDOVU_SECRET": None, "NDOVU_NODE_ROOT": str(transport.root),
                                   "KEEP_ME": "yes", "EXTRA": "1"}
    assert cwd == str(transport.root)


def test_paths_cannot_escape(transport: LocalTransport, tmp_path: Path) -> None:
    for bad in ("../outside", "/etc/passwd", "conf/../../outside", "", ".."):
        with pytest.raises(ValueError):
            transport.path(bad)
        with pytest.raises(ValueError):
            transport.write_file(bad, "x")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", transport.root / "link")
    with pytest.raises(ValueError):
        transport.write_file("link/file", "x")
    assert transport.path("conf/zoo.cfg") == str(transport.root / "conf" / "zoo.cfg")


def test_files(transport: LocalTransport) -> None:
    assert transport.read_file("conf/missing") is None
    transport.write_file("conf/secret.cfg", "a=1\n", mode=0o600)
    transport.write_file("conf/secret.cfg", "a=2\n", mode=0o600)
    assert transport.read_file("conf/secret.cfg") == "a=2\n"
    assert (transport.root / "conf/secret.cfg").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (transport.root / "conf").iterdir()] == ["secret.cfg"]


def test_run(transport: LocalTransport, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NDOVU_TOKEN", "x")
    result = transport.run(["sh", "-c", 'echo "$NDOVU_TOKEN|$NDOVU_NODE_ROOT|$A"; '
                                        "echo oops >&2; exit 3"], env={"A": "b"})
    assert result.returncode == 3
    assert result.stdout == f"|{transport.root}|b\n"
    assert result.stderr == "oops\n"
    missing = transport.run(["no-such-command-ndovu"])
    assert missing.returncode == 127 and "no-such-command-ndovu" in missing.stderr


def test_stop_all_services(transport: LocalTransport) -> None:
    transport.start_service("one", SLEEPER)
    transport.start_service("two", PARENT_WITH_CHILD)
    wait_for(lambda: len(node_processes(transport.root)) == 3, "three processes")
    stop_all_services(transport.root, timeout=5)
    assert transport.running_services() == []
    assert node_processes(transport.root) == []


def test_invalid_service_name(transport: LocalTransport) -> None:
    with pytest.raises(ValueError):
        transport.start_service("../evil", SLEEPER)


def test_privileged_without_root_goes_through_sudo(transport: LocalTransport, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "sudo").write_text("#!/bin/sh\nprintf '[%s]' \"$@\"\n")
    (fake_bin / "sudo").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    result = transport.run(["id", "-u"], privileged=True, env={"A": "b c"})
    # sudo resets the environment: the node's variables travel on the command line
    assert result.stdout == f"[-n][--][env][A=b c][NDOVU_NODE_ROOT={transport.root}][id][-u]"
    assert transport.run(["echo", "plain"]).stdout == "plain\n"


def test_installs_hold_the_machine_wide_lock(transport: LocalTransport,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # local nodes share one package manager: another process must wait for the lock to
    # install, but asking what is installed only reads, and waits for nobody
    held = []

    def run(argv, *, timeout=60.0, env=None, privileged=False):
        with open(local._PACKAGE_LOCK, "a") as other:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held.append((argv[0], False))
                fcntl.flock(other, fcntl.LOCK_UN)
            except BlockingIOError:
                held.append((argv[0], True))
        answers = {"sh": "apt\n", "dpkg-query": "coreutils installed\n"}
        return CommandResult(0, answers.get(argv[0], ""), "")

    monkeypatch.setattr(transport, "run", run)
    transport.install_packages(["coreutils", "zookeeper"])
    assert held == [("sh", False), ("dpkg-query", False), ("dpkg-query", True),
                    ("apt-get", True)]


def test_write_file_bytes_and_upload(transport: LocalTransport, tmp_path: Path) -> None:
    transport.write_file("bin/blob", b"\x00\xff", mode=0o700)
    assert (transport.root / "bin/blob").read_bytes() == b"\x00\xff"
    source = tmp_path / "src.txt"
    source.write_text("payload")
    transport.upload_file("depot/src.txt", str(source), mode=0o600)
    assert (transport.root / "depot/src.txt").stat().st_mode & 0o777 == 0o600
    assert transport.read_file("depot/src.txt") == "payload"
