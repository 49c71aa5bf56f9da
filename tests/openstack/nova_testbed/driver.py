"""``compute_driver = ndovu_testbed.TestBedDriver`` (under compute.py, the launcher that
registers this module as nova.virt.ndovu_testbed): Nova's fake driver (its resource
reporting and bookkeeping) with a real data plane below it: each server is a test bed
host (tests/testbed/host.py) on the bed's bridge.

- spawn: a host named ``os-<instance uuid>`` whose eth0 has the MAC and fixed IP of the
  server's one Neutron port (configured statically: no DHCP on the bed), the key pair's
  public key in root's authorized_keys, sshd running. ACTIVE therefore means "answers
  SSH".
- power_off / power_on / reboot: the host's processes stop / start (its folder, namespace
  and veth stay, like a disk and a cable); get_info reports whether it runs.
- destroy: everything the host made goes (processes, namespace, veth, folder).
- get_console_output: the host's console log and its SSH host key between cloud-init's
  markers, so that a client can check the key as it would on a real cloud.

A server whose port is not on the bed's network (the tests of the control plane use
project networks such as 10.20.0.0/24) boots as the fake driver boots it: nothing runs.
Everything else (pause, snapshot, rescue, ...) stays fake. Runs in nova-compute from
.venv-openstack, which imports this repository's ``tests`` package (stdlib-only
tests.testbed) through the PYTHONPATH cloud.py gives the computes; the bed (bridge,
firewall, image, repository) is started by the tests before the cloud, and found through
the ``[ndovu_testbed]`` options.
"""

from __future__ import annotations

from pathlib import Path

from nova import exception
from nova.compute import power_state
from nova.virt import fake, hardware
from oslo_config import cfg
from oslo_log import log as logging

from tests.openstack.nova_testbed import OPTIONS_GROUP, host_name
from tests.testbed import network
from tests.testbed.commands import TestBedError
from tests.testbed.host import Host, remove_host_dir

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
# registered after the configuration files were parsed: oslo.config reads them lazily
CONF.register_opts([
    cfg.StrOpt("workdir", help="the test bed's work folder (hosts in workdir/hosts)"),
    cfg.StrOpt("rootfs", help="the bed image's root folder (the hosts' lower layer)"),
    cfg.StrOpt("repo_url", help="the bed's package repository, for the hosts' apt"),
], group=OPTIONS_GROUP)
BOOT_TIMEOUT = 30.0


class TestBedDriver(fake.FakeDriver):
    """Servers as test bed hosts; the fake driver's bookkeeping (``self.instances``,
    resources) is kept in step so that what Nova reads about capacity stays the same."""

    __test__ = False  # not a pytest test class (its name starts with Test)

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        # instance uuid -> its host (FakeDriver's self._host is this compute's name)
        self._servers: dict[str, Host] = {}

    def init_host(self, host):
        super().init_host(host)
        options = getattr(CONF, OPTIONS_GROUP)
        missing = [name for name in ("workdir", "rootfs", "repo_url") if not options[name]]
        if missing:
            raise RuntimeError(f"TestBedDriver: [{OPTIONS_GROUP}] lacks {', '.join(missing)}")
        if network.BRIDGE not in network.link_names():
            raise RuntimeError(f"TestBedDriver: no bridge {network.BRIDGE}: start the test "
                               "bed before the cloud")

    # --- the hosts ---------------------------------------------------------------------
    def _new_host(self, instance, network_info) -> Host | None:
        """The host of ``instance`` on its one port's MAC and IPv4 address; None when that
        port is not on the bed's network (a fake server, as the fake driver boots)."""
        vifs = list(network_info or [])
        addresses = [ip["address"] for vif in vifs for ip in vif.fixed_ips()
                     if ip["version"] == 4]
        if len(vifs) != 1 or len(addresses) != 1:
            raise exception.InstanceDeployFailure(
                reason=f"TestBedDriver boots servers with one port with one IPv4 address, "
                       f"not {len(vifs)} ports with {addresses}")
        if not network.on_bed(addresses[0]):
            return None
        try:
            nic = network.other_nic(addresses[0], vifs[0]["address"])
        except TestBedError as exc:  # on the bed, but outside the servers' addresses
            raise exception.InstanceDeployFailure(reason=str(exc)) from exc
        options = getattr(CONF, OPTIONS_GROUP)
        name = host_name(instance.uuid)
        return Host(name=name, nic=nic, folder=Path(options.workdir) / "hosts" / name,
                    rootfs=Path(options.rootfs), repo_url=options.repo_url,
                    authorized_key=instance.key_data or "")

    def _server_host(self, instance) -> Host:
        try:
            return self._servers[instance.uuid]
        except KeyError:
            raise exception.InstanceNotFound(instance_id=instance.uuid) from None

    def _fake(self, instance) -> bool:
        """Whether the server was booted as a fake one (not on the bed's network)."""
        return instance.uuid not in self._servers and instance.uuid in self.instances

    def _boot(self, host: Host, instance) -> None:
        try:
            host.power_on()
            host.wait_ready(timeout=BOOT_TIMEOUT)
        except TestBedError as exc:
            host.power_off()
            raise exception.InstanceDeployFailure(reason=str(exc)) from exc

    # --- the driver's interface --------------------------------------------------------
    def spawn(self, context, instance, image_meta, injected_files, admin_password,
              allocations, network_info=None, block_device_info=None, power_on=True,
              accel_info=None):
        host = self._new_host(instance, network_info)
        if host is None:
            super().spawn(context, instance, image_meta, injected_files, admin_password,
                          allocations, network_info, block_device_info, power_on,
                          accel_info)
            return
        try:
            host.launch()
            host.wait_ready(timeout=BOOT_TIMEOUT)
            if not power_on:
                host.power_off()
        except TestBedError as exc:
            LOG.error("host %s did not start: %s", host.name, exc, instance=instance)
            host.stop()
            raise exception.InstanceDeployFailure(reason=str(exc)) from exc
        self._servers[instance.uuid] = host
        LOG.info("host %s up at %s (%s)", host.name, host.address, host.nic.mac,
                 instance=instance)
        super().spawn(context, instance, image_meta, injected_files, admin_password,
                      allocations, network_info, block_device_info, power_on, accel_info)

    def get_info(self, instance, use_cache=True):
        if self._fake(instance):
            return super().get_info(instance, use_cache)
        host = self._server_host(instance)
        return hardware.InstanceInfo(
            state=power_state.RUNNING if host.running else power_state.SHUTDOWN)

    def power_off(self, instance, timeout=0, retry_interval=0):
        if not self._fake(instance):
            self._server_host(instance).power_off()
        super().power_off(instance, timeout, retry_interval)

    def power_on(self, context, instance, network_info, block_device_info=None,
                 accel_info=None, share_info=None):
        if not self._fake(instance):
            host = self._server_host(instance)
            if not host.running:
                self._boot(host, instance)
        super().power_on(context, instance, network_info, block_device_info, accel_info,
                         share_info)

    def reboot(self, context, instance, network_info, reboot_type, block_device_info=None,
               bad_volumes_callback=None, accel_info=None, share_info=None):
        # soft or hard alike: everything the host runs stops, then it boots again
        if self._fake(instance):
            return
        host = self._server_host(instance)
        host.power_off()
        self._boot(host, instance)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        host = self._servers.pop(instance.uuid, None)
        if host is not None:
            host.stop()
        else:  # e.g. a failed spawn, or a host this process does not know: by name
            netns = network.netns_name(host_name(instance.uuid))
            network.kill_netns_processes(netns)
            network.delete_netns(netns)  # its veth goes with it
            workdir = getattr(CONF, OPTIONS_GROUP).workdir
            if workdir:
                remove_host_dir(Path(workdir) / "hosts" / host_name(instance.uuid))
        super().destroy(context, instance, network_info, block_device_info, destroy_disks,
                        destroy_secrets)

    def get_console_output(self, context, instance):
        if self._fake(instance):
            return super().get_console_output(context, instance)
        host = self._server_host(instance)
        try:
            console = (host.folder / "console.log").read_text(errors="replace")
        except OSError:
            console = ""
        # what cloud-init prints, which clients parse to learn the server's host keys
        return (f"{console}-----BEGIN SSH HOST KEY KEYS-----\n{host.host_key} "
                f"root@{host.name}\n-----END SSH HOST KEY KEYS-----\n")
