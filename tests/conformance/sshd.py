"""A real OpenSSH server on loopback for the SSH transport's tests.

It runs with its own configuration, host key and authorized key in a temporary folder
and a free port, so it neither reads nor changes the machine's SSH setup. When
``/usr/sbin/sshd`` is missing, Debian's ``openssh-server`` is installed first (root only)
with service starts disabled, so no machine-wide sshd appears on port 22.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from tests.helpers import free_port

SSHD = Path("/usr/sbin/sshd")
_POLICY_RC = Path("/usr/sbin/policy-rc.d")
_CONFIG = """\
HostKey {folder}/host_key
AuthorizedKeysFile {folder}/authorized_keys
PidFile {folder}/sshd.pid
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
LogLevel ERROR
"""


def ensure_openssh_server() -> None:
    """Install openssh-server when sshd is missing; a no-op when it is there."""
    if SSHD.exists():
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"{SSHD} is missing: install openssh-server (needs root)")
    lock_path = Path(tempfile.gettempdir()) / "ndovu-test-sshd-install.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test runs install it once
        if SSHD.exists():
            return
        # exit 101 = "action forbidden": the package's scripts start no ssh service
        added_policy = not _POLICY_RC.exists()
        if added_policy:
            _POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
            _POLICY_RC.chmod(0o755)
        try:
            result = subprocess.run(
                ["apt-get", "install", "-y", "--no-install-recommends",
                 "-o", "DPkg::Lock::Timeout=300", "openssh-server"],
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
                capture_output=True, text=True, timeout=900)
        finally:
            if added_policy:
                _POLICY_RC.unlink(missing_ok=True)
        if result.returncode != 0 or not SSHD.exists():
            raise RuntimeError(f"installing openssh-server failed: {result.stderr[-2000:]}")


def _private_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


def _write_secret(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


@dataclass
class Sshd:
    """One sshd listening on 127.0.0.1:``port`` that accepts ``private_key`` for root."""

    folder: Path
    port: int
    private_key: str = field(repr=False)
    host_key: str  # the public host key line, as a transport pins it
    host: str = "127.0.0.1"
    user: str = "root"
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(cls, folder: Path) -> Sshd:
        folder.mkdir(parents=True, exist_ok=True)
        host_key = _private_key()
        _write_secret(folder / "host_key", host_key.export_private_key())
        client_key = _private_key()
        (folder / "authorized_keys").write_bytes(client_key.export_public_key())
        (folder / "sshd_config").write_text(_CONFIG.format(folder=folder))
        server = cls(folder=folder, port=free_port(),
                     private_key=client_key.export_private_key().decode(),
                     host_key=host_key.export_public_key().decode().strip())
        server.start()
        return server

    def start(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation dir
        with open(self.folder / "sshd.log", "ab") as log:
            self.process = subprocess.Popen(
                [str(SSHD), "-D", "-e", "-f", str(self.folder / "sshd_config"),
                 "-p", str(self.port), "-o", "ListenAddress=127.0.0.1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    (self.host, self.port), timeout=1):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "sshd.log").read_text(errors="replace")
                raise RuntimeError(f"sshd did not start on port {self.port}: {log[-2000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the listener and every session it started."""
        if self.process is None:
            return
        sessions = self.session_pids()
        self.process.terminate()
        self.process.wait(timeout=10)
        for pid in sessions:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        if self.process is None:
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2:].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return found

    def kill_sessions(self) -> None:
        """Break every open connection, as a network failure or a reboot would."""
        for pid in self.session_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
