"""One test bed host: a Debian 12 "machine" in its own namespaces, reachable over SSH."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from tests.testbed import network
from tests.testbed.commands import TestBedError, run

BOOT_SCRIPT = Path(__file__).with_name("boot.sh")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
MARKER = ".ndovu-testbed-host"  # in every host folder: what remove_host_dirs may delete
NAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,39}")
# sshd's listener stopped and started again (a fixed script, no inputs)
RESTART_SSHD = """
pid=$(cat /run/sshd.pid)
kill "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 200 ] || { echo "sshd $pid does not stop" >&2; exit 1; }
    sleep 0.05
done
/usr/sbin/sshd
"""


class Host:
    """A running host. Made by :meth:`tests.testbed.TestBed.add_host`; ``stop()`` ends it.

    The bed's hosts have an ``index`` (their address, veth and MACs follow from it);
    a host made elsewhere (the test cloud's Nova driver) gives its ``nic`` instead.
    """

    port = 22

    def __init__(
        self, *, name: str, folder: Path, rootfs: Path, repo_url: str, authorized_key: str,
        index: int | None = None, nic: network.Nic | None = None,
    ) -> None:
        if not NAME_PATTERN.fullmatch(name):
            raise TestBedError(f"host name {name!r} is not [a-z][a-z0-9-]{{0,39}}")
        if nic is None and index is not None:
            nic = network.index_nic(index)
        elif nic is None or index is not None:
            raise TestBedError(f"host {name!r}: give either an index or a nic")
        self.name = name
        self.index = index
        self.nic = nic
        self.address = nic.address
        self.netns = network.netns_name(name)
        self.folder = folder
        self._rootfs = rootfs
        self._repo_url = repo_url
        self._authorized_key = authorized_key
        self._process: subprocess.Popen[bytes] | None = None
        self.pid1: int | None = None  # the guest's PID 1 (tini), as seen from outside
        self.host_key = ""

    def __repr__(self) -> str:
        return f"Host({self.name!r}, {self.address})"

    # --- starting ----------------------------------------------------------------------
    def launch(self) -> None:
        """Prepare the upper layer and network, start PID 1; :meth:`wait_ready` follows."""
        upper = self.folder / "upper"
        for sub in ("upper", "work", "root", "keys"):
            (self.folder / sub).mkdir(mode=0o755, parents=True)
        (self.folder / MARKER).write_text(f"{self.name}\n")
        self._write(upper / "etc/hostname", f"{self.name}\n")
        self._write(
            upper / "etc/hosts",
            f"127.0.0.1\tlocalhost\n{self.address}\t{self.name}\n"
            "::1\tlocalhost ip6-localhost ip6-loopback\n",
        )
        self._write(
            upper / "etc/apt/sources.list", f"deb [trusted=yes] {self._repo_url} ./\n"
        )
        self._write(upper / "root/.ssh/authorized_keys", self._authorized_key, mode=0o600)
        os.chmod(upper / "root", 0o700)
        os.chmod(upper / "root/.ssh", 0o700)
        self._new_host_key()
        (upper / "etc/ssh").mkdir(parents=True, exist_ok=True)
        for suffix in ("", ".pub"):
            shutil.copy2(self.folder / "keys" / f"host_key{suffix}", upper / f"{HOST_KEY}{suffix}")

        run(["ip", "netns", "add", self.netns])
        network.add_veth(self.nic, self.netns)
        self.power_on()

    def power_on(self) -> None:
        """Start PID 1 (the boot script) over the host's folder, in its network namespace:
        after :meth:`launch`, or after :meth:`power_off` (the upper layer, host key and
        console log kept, like a disk); :meth:`wait_ready` follows."""
        if self.running:
            raise TestBedError(f"{self.name} is running already")
        self.pid1 = None
        console = open(self.folder / "console.log", "ab")  # noqa: SIM115 (kept by the child)
        with console:
            self._process = subprocess.Popen(
                [
                    "nsenter", f"--net=/run/netns/{self.netns}",
                    "unshare", "--mount", "--uts", "--ipc", "--pid", "--fork",
                    "--kill-child=SIGTERM", "--propagation", "private",
                    "/bin/sh", str(BOOT_SCRIPT), str(self._rootfs), str(self.folder / "upper"),
                    str(self.folder / "work"), str(self.folder / "root"), self.name,
                ],
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # setsid: process-group kills of the caller miss it
                close_fds=True,
            )

    def wait_ready(self, timeout: float = 20.0) -> None:
        """Wait until the guest's PID 1 is known and its sshd greets on port 22."""
        deadline = time.monotonic() + timeout
        assert self._process is not None, "launch() first"
        while self.pid1 is None:
            self._check_alive()
            children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
            try:
                pids = children.read_text().split()
            except OSError:
                pids = []
            if pids:
                self.pid1 = int(pids[0])
            elif time.monotonic() > deadline:
                raise TestBedError(f"{self.name}: no PID 1 after {timeout:g}s{self._console()}")
            else:
                time.sleep(0.01)
        self._wait_for_sshd(deadline, timeout)

    def _wait_for_sshd(self, deadline: float, timeout: float) -> None:
        while True:
            self._check_alive()
            try:
                with socket.create_connection((self.address, self.port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TestBedError(
                    f"{self.name}: sshd not answering on {self.address}:{self.port} "
                    f"after {timeout:g}s{self._console()}"
                )
            time.sleep(0.02)

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise TestBedError(
                f"{self.name}: PID 1 exited with status {self._process.returncode}"
                f"{self._console()}"
            )

    def _console(self) -> str:
        try:
            text = (self.folder / "console.log").read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; console:\n{text[-2000:]}" if text else ""

    # --- using -------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 120.0,
        check: bool = False,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside the host (all its namespaces, entered by its PID 1) as root,
        with a clean environment; output captured as text."""
        if self.pid1 is None:
            raise TestBedError(f"{self.name} is not running")
        return run(
            [
                "nsenter", f"--target={self.pid1}", "--mount", "--uts", "--ipc", "--net",
                "--pid", "--root", "--wd", "--",
                "/usr/bin/env", "-i", f"PATH={GUEST_PATH}", "HOME=/root", "LANG=C.UTF-8",
                "TERM=dumb", *argv,
            ],
            timeout=timeout,
            check=check,
            input=input,
        )

    def ssh_argv(self, key: Path, known_hosts: Path, *command: str) -> list[str]:
        """``ssh`` as the operator to root@this host with strict host key checking."""
        return [
            "ssh", "-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=5",
            "-o", "LogLevel=ERROR", "-p", str(self.port), f"root@{self.address}",
            "--", *command,
        ]

    def cut(self) -> None:
        """A network partition: the host-side end of the host's veth goes down."""
        network.set_link(self.nic.outside, up=False)

    def restore(self) -> None:
        """Undo :meth:`cut`."""
        network.set_link(self.nic.outside, up=True)

    def change_host_key(self, timeout: float = 20.0) -> str:
        """A new ed25519 host key; sshd restarted with it. Returns the new ``host_key``."""
        if self.pid1 is None:
            raise TestBedError(f"{self.name} is not running")
        old = self.host_key
        self._new_host_key()
        guest_root = Path(f"/proc/{self.pid1}/root")
        for suffix in ("", ".pub"):
            data = (self.folder / "keys" / f"host_key{suffix}").read_bytes()
            target = guest_root / f"{HOST_KEY}{suffix}"
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
        result = self.run(["sh", "-c", RESTART_SSHD], timeout=timeout)
        if result.returncode != 0:
            raise TestBedError(f"{self.name}: restarting sshd failed: {result.stderr.strip()}")
        deadline = time.monotonic() + timeout
        self._wait_for_sshd(deadline, timeout)
        assert self.host_key != old
        return self.host_key

    def _new_host_key(self) -> None:
        keys = self.folder / "keys"
        for suffix in ("", ".pub"):
            (keys / f"host_key{suffix}").unlink(missing_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.name}",
             "-f", str(keys / "host_key")])
        algorithm, blob = (keys / "host_key.pub").read_text().split()[:2]
        self.host_key = f"{algorithm} {blob}"

    @staticmethod
    def _write(path: Path, text: str, mode: int = 0o644) -> None:
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, mode)

    # --- stopping ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """Power off; then remove the host's veth, namespace and folder."""
        self.power_off(timeout)
        network.delete_link(self.nic.outside)
        network.delete_netns(self.netns)
        remove_host_dir(self.folder)

    def power_off(self, timeout: float = 10.0) -> None:
        """SIGTERM to PID 1 (a short grace), then SIGKILL to everything in the host's
        network namespace (its mounts go with its PID 1); the folder, namespace and veth
        stay for :meth:`power_on`."""
        if self._process is None:  # not started by this object: whatever runs there
            network.kill_netns_processes(self.netns, timeout=timeout)
        else:
            if self.pid1 is not None and self._process.poll() is None:
                try:
                    os.kill(self.pid1, signal.SIGTERM)
                    self._process.wait(timeout=min(2.0, timeout))
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            network.kill_netns_processes(self.netns, timeout=timeout)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise TestBedError(f"{self.name}: unshare {self._process.pid} lingers") from exc
            self._process = None
        self.pid1 = None


def remove_host_dir(folder: Path) -> None:
    """Delete a host's folder (only one this module made: it holds the marker file), never
    through a mount point."""
    if not (folder / MARKER).is_file():
        return
    prefix = str(folder.resolve()) + "/"
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            mount_point = line.split()[4]
            if mount_point.startswith(prefix) or mount_point == prefix[:-1]:
                raise TestBedError(f"{mount_point} is mounted; not deleting {folder}")
    shutil.rmtree(folder)
