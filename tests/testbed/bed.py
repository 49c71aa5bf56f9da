"""The test bed: a bridge, a firewall, a package repository, and hosts on them."""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from tests.testbed import network
from tests.testbed.commands import TestBedError, require_tools, run
from tests.testbed.host import Host, remove_host_dir
from tests.testbed.image import Image, ensure_image
from tests.testbed.repo import RepoServer

LOCK_FILE = Path("/run/ndovu-testbed.lock")  # held by the one live test bed of the machine
LAST_WORKDIR = Path("/run/ndovu-testbed.workdir")  # whose host folders a crash may leave


class TestBed:
    """Debian 12 hosts on the bridge ``ndovutb0`` (198.18.7.1/24), reachable over SSH.

    ``with TestBed(workdir) as bed:`` or ``bed.start()`` ... ``bed.close()``. One test bed
    per machine at a time: a second one waits for the first (a lock, bounded). Starting
    removes what a crashed earlier run left (by the ``ndovutb`` name prefix).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, workdir: Path, *, lock_timeout: float = 900.0) -> None:
        self.workdir = Path(workdir).resolve()
        self.operator_key = self.workdir / "operator_key"
        self.hosts: dict[str, Host] = {}
        self.image: Image | None = None
        self.repo: RepoServer | None = None
        self._lock_timeout = lock_timeout
        self._lock_fd: int | None = None
        self._next_index = network.FIRST_HOST_INDEX

    # --- life --------------------------------------------------------------------------
    def __enter__(self) -> TestBed:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> TestBed:
        """Lock, clean leftovers, build or reuse the image, make the operator key, the
        bridge, the repository server and the firewall."""
        if os.geteuid() != 0:
            raise TestBedError("the test bed needs root (namespaces, bridge, firewall)")
        require_tools("ip", "nft", "nsenter", "unshare", "ssh-keygen", "bash")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._remove_leftovers()
            LAST_WORKDIR.write_text(f"{self.workdir}\n")
            self.image = ensure_image()
            for path in (self.operator_key, self.operator_key.with_suffix(".pub")):
                path.unlink(missing_ok=True)
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ndovu-testbed-operator",
                 "-f", str(self.operator_key)])
            network.make_bridge()
            self.repo = RepoServer(self.image.repo, network.BRIDGE_ADDRESS)
            network.make_firewall(self.repo.port)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Stop every host; remove the firewall, bridge, repository server; unlock."""
        errors: list[str] = []
        for host in list(self.hosts.values()):
            try:
                host.stop()
            except TestBedError as exc:
                errors.append(str(exc))
        self.hosts.clear()
        if self.repo is not None:
            self.repo.close()
            self.repo = None
        if self._lock_fd is not None:
            try:
                network.remove_leftovers()
            except TestBedError as exc:
                errors.append(str(exc))
            LAST_WORKDIR.unlink(missing_ok=True)
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None
        if errors:
            raise TestBedError("closing the test bed: " + "; ".join(errors))

    def _acquire_lock(self) -> None:
        fd = os.open(LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + self._lock_timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(fd)
                    raise TestBedError(
                        f"another test bed held {LOCK_FILE} for more than "
                        f"{self._lock_timeout:g}s"
                    ) from None
                time.sleep(0.5)
        self._lock_fd = fd

    def _remove_leftovers(self) -> None:
        network.remove_leftovers()
        if LAST_WORKDIR.is_file():
            hosts_dir = Path(LAST_WORKDIR.read_text().strip()) / "hosts"
            if hosts_dir.is_dir():
                for folder in hosts_dir.iterdir():
                    remove_host_dir(folder)

    # --- hosts -------------------------------------------------------------------------
    def add_host(self, name: str, *, timeout: float = 20.0) -> Host:
        """Start a host (198.18.7.11, .12, ... in order of creation); return it once its
        sshd answers."""
        return self.add_hosts([name], timeout=timeout)[0]

    def add_hosts(self, names: Iterable[str], *, timeout: float = 30.0) -> list[Host]:
        """Start several hosts at once (their boots overlap); return them when all are up."""
        if self.image is None or self.repo is None:
            raise TestBedError("start() the test bed first")
        hosts: list[Host] = []
        try:
            for name in names:
                if name in self.hosts:
                    raise TestBedError(f"a host named {name!r} exists already")
                if self._next_index > network.LAST_HOST_INDEX:
                    raise TestBedError("no address left on the test bed's network")
                host = Host(
                    name=name, index=self._next_index,
                    folder=self.workdir / "hosts" / name, rootfs=self.image.rootfs,
                    repo_url=self.repo.url,
                    authorized_key=self.operator_key.with_suffix(".pub").read_text(),
                )
                self._next_index += 1
                self.hosts[name] = host
                hosts.append(host)
                host.launch()
            deadline = time.monotonic() + timeout
            for host in hosts:
                host.wait_ready(timeout=max(0.1, deadline - time.monotonic()))
        except BaseException:
            for host in hosts:
                self.hosts.pop(host.name, None)
                with contextlib.suppress(TestBedError):
                    host.stop()
            raise
        return hosts

    def stop_host(self, host: Host) -> None:
        """Stop a host and forget it (its address is not given out again)."""
        self.hosts.pop(host.name, None)
        host.stop()

    # --- for the operator --------------------------------------------------------------
    def allow_port(self, port: int) -> None:
        """Let the hosts reach TCP ``port`` on 198.18.7.1 (e.g. ndovu's software depot)
        until ``disallow_port``: a test takes back what it allowed when it is done."""
        network.allow_port(port)

    def disallow_port(self, port: int) -> None:
        network.disallow_port(port)

    @property
    def address(self) -> str:
        """This machine's address on the test bed's network."""
        return network.BRIDGE_ADDRESS

    def known_hosts(self, path: Path | None = None) -> Path:
        """Write an OpenSSH known_hosts file with every running host's key (default
        ``workdir/known_hosts``); return its path."""
        path = path or self.workdir / "known_hosts"
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(
            "".join(f"{host.address} {host.host_key}\n" for host in list(self.hosts.values()))
        )
        os.replace(partial, path)  # atomic: a concurrent ssh never reads half a file
        return path

    def ssh_argv(self, host: Host, *command: str) -> list[str]:
        """``ssh`` argv running ``command`` as root on ``host`` with the operator key and
        strict checking against :meth:`known_hosts`."""
        return host.ssh_argv(self.operator_key, self.known_hosts(), *command)
