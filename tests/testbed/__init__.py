"""A test bed of Debian 12 hosts for integration tests.

Each host is a network namespace on the bridge ``ndovutb0`` (198.18.7.1/24) with its own
mount, UTS, IPC and PID namespaces over an overlay of a cached debootstrap image, running
``tini`` and ``sshd``. ndovu reaches the hosts over SSH like separate machines; the hosts
reach software only through a local apt repository served on the bridge.

    with TestBed(tmp_path) as bed:
        a, b = bed.add_hosts(["a", "b"])
        a.run(["hostname"])

Needs root and ``scripts/setup-testbed.sh`` (Debian packages, the cached image).
"""

from tests.testbed.bed import TestBed
from tests.testbed.commands import TestBedError
from tests.testbed.host import Host
from tests.testbed.image import Image, ensure_image

__all__ = ["Host", "Image", "TestBed", "TestBedError", "ensure_image"]
