"""The command lines the SSH transport sends, and the package rules both transports share.

A fake connection pool records each command line instead of sending it, so the cases
this machine cannot run for real (a non-root login through sudo, a systemd node) are
checked word by word. The real sshd tests are in tests/conformance.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from typing import Any, cast

import asyncssh
import pytest

from ndovu.transports import packages, services
from ndovu.transports.base import CommandResult, PackageError
from ndovu.transports.ssh import SshConnections, SshTarget, SshTransport
from ndovu.transports.ssh_connections import Completed

Answer = Callable[[list[str]], Completed]
ROOT = "/srv/ndovu/n1"


class FakeKept:
    def __init__(self) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
        self.systemd: bool | None = None
        self.roots: set[str] = set()


class FakeConnections:
    connect_timeout = 1.0

    def __init__(self, answer: Answer | None = None):
        self.sent: list[list[str]] = []
        self.kept = FakeKept()
        self._answer = answer or (lambda words: Completed(0, b"", b""))

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float, target: SshTarget,
             doing: str) -> Any:
        return asyncio.run(coroutine)

    async def connection(self, target: SshTarget, pinned: str | None) -> FakeKept:
        return self.kept

    async def execute(self, target: SshTarget, pinned: str | None, command: str, *,
                      stdin: bytes | str | None, timeout: float) -> Completed:
        words = shlex.split(command)
        self.sent.append(words)
        return self._answer(words)

    def package_lock(self, target: SshTarget) -> threading.Lock:
        return threading.Lock()


def make(user: str = "deploy", answer: Answer | None = None
         ) -> tuple[SshTransport, FakeConnections]:
    fake = FakeConnections(answer)
    target = SshTarget(node="n1", host="10.0.0.5", user=user, private_key="k", host_key=None,
                       root=ROOT)
    return SshTransport(target, cast(SshConnections, fake)), fake


def test_a_command_is_quoted_argv_run_in_the_root_with_a_remote_timeout() -> None:
    transport, fake = make(user="root")
    transport.run(["printf", "%s", "$(x) y"], timeout=5, env={"A": "b c"})
    transport.run(["true"])
    made, first, second = fake.sent
    assert made == ["timeout", "--kill-after=5", "30.0", "mkdir", "-p", "--", ROOT]
    assert first == ["timeout", "--kill-after=5", "5.0",
                     "env", "A=b c", f"NDOVU_NODE_ROOT={ROOT}",
                     "sh", "-c", 'cd "$1" && shift && exec "$@"', "sh", ROOT,
                     "printf", "%s", "$(x) y"]
    assert second[-1] == "true"  # the root is made once


def test_privileged_goes_through_sudo_unless_the_login_is_root() -> None:
    transport, fake = make(user="deploy")
    transport.run(["id", "-u"], privileged=True)
    transport.run(["id", "-u"])
    made, privileged, plain = fake.sent
    assert made[:4] == ["sudo", "-n", "--", "timeout"]
    assert made[-4:] == ['mkdir -p -- "$1" && chown -- "$2" "$1"', "sh", ROOT, "deploy"]
    assert privileged[:4] == ["sudo", "-n", "--", "timeout"] and privileged[-2:] == ["id", "-u"]
    assert plain[0] == "timeout"


def test_the_host_key_met_at_first_contact_is_reported_once() -> None:
    fake = FakeConnections()
    seen: list[str] = []
    target = SshTarget(node="n1", host="10.0.0.5", private_key="k", root=ROOT)
    transport = SshTransport(target, cast(SshConnections, fake), on_host_key=seen.append)
    transport.service_running("x")
    transport.service_running("x")
    assert seen == [fake.kept.host_key.export_public_key().decode().strip()]


def systemd_node(words: list[str]) -> Completed:
    return Completed(0, b"systemd\n" if words[-2:] == ["cat", "/proc/1/comm"] else b"", b"")


def test_on_systemd_a_service_is_a_transient_unit() -> None:
    transport, fake = make(user="deploy", answer=systemd_node)
    transport.start_service("zk", ["/usr/bin/java", "-cp", "a b"], env={"X": "1"})
    start = fake.sent[-1]
    assert start[:3] == ["sudo", "-n", "--"]
    at = start.index(services.SYSTEMD_START)
    assert start[at + 1:at + 5] == ["sh", ROOT, "zk", "ndovu-n1-zk.service"]
    run = start[at + 5:]
    assert run[:4] == ["systemd-run", "--quiet", "--unit=ndovu-n1-zk.service", "--collect"]
    for word in (f"StandardOutput=append:{ROOT}/logs/zk.log", "KillMode=control-group",
                 f"--working-directory={ROOT}", "--uid=deploy", "--setenv=X=1",
                 f"--setenv=NDOVU_NODE_ROOT={ROOT}", "--setenv=NDOVU_SERVICE=zk"):
        assert word in run
    assert run[run.index("--"):] == ["--", "/usr/bin/java", "-cp", "a b"]

    transport.stop_service("zk")
    assert services.SYSTEMD_STOP in fake.sent[-1] and fake.sent[-1][0] == "sudo"
    detections = [w for w in fake.sent if w[-2:] == ["cat", "/proc/1/comm"]]
    assert len(detections) == 1  # once per connection


def test_without_systemd_start_stop_daemon_gets_env_and_argv_as_words() -> None:
    transport, fake = make(user="root", answer=lambda w: Completed(0, b"init\n", b""))
    transport.start_service("svc", ["bin/run", "a;b"], env={"Y": "$(z)"})
    start = fake.sent[-1]
    at = start.index(services.START)
    assert start[at + 1:] == ["sh", ROOT, "svc", "bin/run", "Y=$(z)",
                              f"NDOVU_NODE_ROOT={ROOT}", "NDOVU_SERVICE=svc", "bin/run", "a;b"]
    transport.stop_service("svc", timeout=2.5)
    assert fake.sent[-1][-4:] == ["sh", ROOT, "svc", "25"]


def test_names_and_programs_that_could_be_misread_are_refused() -> None:
    transport, _ = make()
    for argv in ([], ["-x"], ["A=B", "prog"]):
        with pytest.raises(ValueError):
            transport.start_service("svc", argv)
    with pytest.raises(ValueError):
        transport.run(["true"], env={"A B": "x"})
    with pytest.raises(ValueError):
        SshTransport(SshTarget(node="n", host="h", root="relative"),
                     cast(SshConnections, FakeConnections()))
    assert services.unit_name("my node/x", "svc") == "ndovu-my_node_x-svc.service"


# -- the package rules both transports follow ----------------------------------------------

SUCCESS = CommandResult(0, "", "")


class FakeRunner:
    def __init__(self, manager: str, installed: Sequence[str] = (),
                 install: CommandResult = SUCCESS):
        self.manager, self.installed, self.install = manager, installed, install
        self.ran: list[tuple[list[str], bool, Mapping[str, str] | None]] = []

    def __call__(self, argv: Sequence[str], *, timeout: float = 60.0,
                 env: Mapping[str, str] | None = None, privileged: bool = False
                 ) -> CommandResult:
        self.ran.append((list(argv), privileged, env))
        if argv[0] == "sh":
            return CommandResult(0, f"{self.manager}\n", "")
        if argv[0] in ("dpkg-query", "rpm"):
            return CommandResult(1, "".join(f"{p} installed\n" for p in self.installed), "")
        return self.install


def test_apt_installs_only_what_is_missing_without_questions() -> None:
    run = FakeRunner("apt", installed=["coreutils"])
    packages.ensure_installed(run, ["coreutils", "zookeeper"], timeout=60, node="n1")
    argv, privileged, env = run.ran[-1]
    assert argv == ["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y",
                    "--no-install-recommends", "zookeeper"]
    assert privileged and env == {"DEBIAN_FRONTEND": "noninteractive"}


def test_a_node_without_package_lists_fetches_them_first() -> None:
    run = FakeRunner("apt-nolists")
    packages.ensure_installed(run, ["etcd-server"], timeout=60, node="n1")
    assert [argv[3] for argv, _, _ in run.ran[-2:]] == ["update", "install"]


class HeldLock:
    """A ``lock`` for ensure_installed that says, for each command, whether it was held."""

    def __init__(self, run: FakeRunner):
        self.held = False
        self.seen: list[tuple[str, bool]] = []
        self._run = run

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def run(self, argv: Sequence[str], **options: Any) -> CommandResult:
        self.seen.append((argv[0], self.held))
        return self._run(argv, **options)


def test_only_installing_holds_the_lock_and_what_is_missing_is_asked_again() -> None:
    lock = HeldLock(FakeRunner("apt", installed=["coreutils"]))
    packages.ensure_installed(lock.run, ["coreutils", "zookeeper"], timeout=60, node="n1",
                              lock=lock)
    # nodes that have everything never wait for each other's installs
    assert lock.seen == [("sh", False), ("dpkg-query", False), ("dpkg-query", True),
                         ("apt-get", True)]
    # the second question asks only about what the first found missing
    assert lock._run.ran[2][0][-1:] == ["zookeeper"]


def test_nothing_missing_takes_no_lock() -> None:
    lock = HeldLock(FakeRunner("apt", installed=["coreutils"]))
    packages.ensure_installed(lock.run, ["coreutils"], timeout=60, node="n1", lock=lock)
    assert lock.seen == [("sh", False), ("dpkg-query", False)]


def test_what_another_node_installed_meanwhile_is_not_installed_again() -> None:
    run = FakeRunner("apt")

    @contextlib.contextmanager
    def lock_after_another_install() -> Iterator[None]:
        run.installed = ["zookeeper"]  # the node that held the lock installed it
        yield

    packages.ensure_installed(run, ["zookeeper"], timeout=60, node="n1",
                              lock=lock_after_another_install)
    assert [argv[0] for argv, _, _ in run.ran] == ["sh", "dpkg-query", "dpkg-query"]


def test_rpm_nodes_use_dnf() -> None:
    run = FakeRunner("dnf", installed=["java"])
    packages.ensure_installed(run, ["java", "zookeeper"], timeout=60, node="n1")
    assert run.ran[1][0][:2] == ["rpm", "-q"]
    assert run.ran[-1][0] == ["dnf", "install", "-y", "zookeeper"]


def test_failures_name_the_packages_and_the_last_words() -> None:
    failed = FakeRunner("apt", install=CommandResult(100, "", "E: Unable to locate package x"))
    with pytest.raises(PackageError) as caught:
        packages.ensure_installed(failed, ["x"], timeout=60, node="n1")
    assert caught.value.message == ("cannot install x on n1: apt-get failed (exit 100): "
                                    "E: Unable to locate package x")
    assert caught.value.hint and caught.value.node == "n1"
    slow = FakeRunner("yum", install=CommandResult(124, "", ""))
    with pytest.raises(PackageError, match="yum did not finish within 60 s"):
        packages.ensure_installed(slow, ["x"], timeout=60, node="n1")
    with pytest.raises(PackageError, match="no package manager"):
        packages.ensure_installed(FakeRunner("none"), ["x"], timeout=60, node="n1")


def test_a_failed_detection_is_not_reported_as_a_missing_package_manager() -> None:
    class DetectionTimesOut(FakeRunner):
        def __call__(self, argv: Sequence[str], **kwargs: object) -> CommandResult:
            if argv[0] == "sh":
                return CommandResult(124, "", "command timed out after 60 s and was killed")
            return super().__call__(argv, **kwargs)  # type: ignore[arg-type]

    with pytest.raises(PackageError) as caught:
        packages.ensure_installed(DetectionTimesOut("apt"), ["x"], timeout=60, node="n1")
    assert caught.value.message == ("cannot tell which package manager n1 has, so it "
                                    "cannot install x: command timed out after 60 s and "
                                    "was killed")
