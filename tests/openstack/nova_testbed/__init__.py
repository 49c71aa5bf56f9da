"""A Nova compute driver that boots each server as a test bed host (tests/testbed): a
server that reaches ACTIVE is a Debian "machine" one can SSH into, with the MAC and fixed
IP of its Neutron port and the key pair's public key in root's authorized_keys.

The driver (driver.py) runs inside the test cloud's nova-compute processes, from
.venv-openstack; this module holds what the tests' side needs and is importable from both
venvs (no Nova, no openstacksdk here).

    with TestBed(workdir) as bed:
        cloud = Cloud(root, **cloud_arguments(bed)).start()
        network, subnet = cloud.make_testbed_network()
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.testbed import network
from tests.testbed.host import remove_host_dir

if TYPE_CHECKING:
    from tests.testbed import TestBed

# Nova loads drivers as nova.virt.<compute_driver> only: the launcher registers ours there
DRIVER = "ndovu_testbed.TestBedDriver"
LAUNCHER = "tests.openstack.nova_testbed.compute"  # runs nova-compute (python -m)
OPTIONS_GROUP = "ndovu_testbed"
# a server's host is named os-<instance uuid>: unique across computes, never a bed host's
# index-based name (bed hosts are named by their tests, never like this)
HOST_PREFIX = "os-"


def host_name(instance_uuid: str) -> str:
    return f"{HOST_PREFIX}{instance_uuid}"


def cloud_arguments(bed: TestBed) -> dict[str, Any]:
    """Keyword arguments of ``Cloud`` for computes that boot servers as hosts of the
    started ``bed``: the driver, its launcher, and the configuration section telling it
    where the bed keeps its image, its hosts' folders and its package repository."""
    if bed.image is None or bed.repo is None:
        raise RuntimeError("start() the test bed before the cloud")
    options = {"workdir": str(bed.workdir), "rootfs": str(bed.image.rootfs),
               "repo_url": bed.repo.url}
    return {"compute_driver": DRIVER, "compute_launcher": LAUNCHER,
            "compute_options": {OPTIONS_GROUP: options}}


def server_hosts() -> list[str]:
    """The network namespaces of servers' hosts that exist on this machine."""
    return [name for name in network.netns_names()
            if name.startswith(network.netns_name(HOST_PREFIX))]


def remove_server_hosts(workdir: Path) -> list[str]:
    """Kill and remove every server's host left on this machine (its processes, namespace
    and veth; its folder under ``workdir``): after the cloud stopped, in case a server was
    not deleted. Returns the namespaces removed."""
    removed = server_hosts()
    for netns in removed:
        network.kill_netns_processes(netns)
        network.delete_netns(netns)  # its veth goes with it
    hosts = workdir / "hosts"
    if hosts.is_dir():
        for folder in hosts.glob(f"{HOST_PREFIX}*"):
            remove_host_dir(folder)
    return removed
