"""A real OpenStack control plane for the OpenStack provider's tests: Keystone, Placement,
Glance, Nova (API, conductor, scheduler and two computes, so that anti-affinity has two
hosts) and Neutron (ML2 without agents), from .venv-openstack (scripts/setup-openstack.sh).

Nothing is faked above the hypervisor: the provider talks to the same APIs, policies,
quotas and schedulers as on a production cloud. Below it, Nova's compute driver is a
parameter (``fake.FakeDriver`` by default) and Neutron binds every port without an agent
(ml2_bind_all), so no packet ever flows; with tests.openstack.nova_testbed's driver instead,
each server is a test bed host one can SSH into (``Cloud(root, **cloud_arguments(bed))``).

Everything lives in one folder (configuration, logs, images, state) plus databases and a
RabbitMQ virtual host named uniquely per start; the APIs listen on free loopback ports
chosen at start. :meth:`Cloud.stop` removes all of it, also after a failed start.
"""

from __future__ import annotations

import base64
import functools
import os
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from openstack.connection import Connection
from openstack.network.v2.network import Network
from openstack.network.v2.subnet import Subnet

from tests.openstack import configs
from tests.openstack.backing import Backing
from tests.openstack.processes import Service, free_port, kill_all, run, uwsgi, wait_until
from tests.testbed import network as testbed_network

REPOSITORY = Path(__file__).resolve().parents[2]
VENV = REPOSITORY / ".venv-openstack"
DATABASES = ("keystone", "placement", "glance", "nova_api", "nova_cell0", "nova_cell1",
             "neutron")
COMPUTE_HOSTS = ("compute-1", "compute-2")
TEST_PROJECT = TEST_USER = "ndovu"
ADMIN = "admin"
IMAGE = "debian-12"
PUBLIC_NETWORK, PUBLIC_CIDR = "public", "203.0.113.0/24"
TESTBED_PHYSNET = "testbed"  # a flat network on the test bed's bridge (see ml2 in configs.py)
# name: (vCPUs, RAM MiB, disk GiB)
FLAVORS = {"m1.tiny": (1, 512, 1), "m1.small": (1, 2048, 20), "m1.medium": (2, 4096, 40),
           "m1.large": (4, 8192, 80), "m1.xlarge": (8, 16384, 160)}
# the quotas that limit what a test may make; lifted for the test project at start
COMPUTE_QUOTAS = ("instances", "cores", "ram", "server_groups", "server_group_members",
                  "key_pairs")
NETWORK_QUOTAS = ("network", "subnet", "port", "router", "floatingip", "security_group",
                  "security_group_rule")
# the catalog: service (the API's name here), type, path of the endpoint's URL
CATALOG = (("placement", "placement", ""), ("glance", "image", ""), ("nova", "compute", "/v2.1"),
           ("neutron", "network", ""))
START_TIMEOUT = 180


class Cloud:
    """One start of the test cloud in ``root``: ``Cloud(root).start()`` … ``stop()``."""

    def __init__(self, root: Path, *, compute_driver: str = "fake.FakeDriver",
                 compute_options: configs.Sections | None = None,
                 compute_launcher: str | None = None, venv: Path = VENV) -> None:
        """``compute_options``: more sections of the computes' configuration;
        ``compute_launcher``: a module of this repository that runs nova-compute (``python
        -m``) instead of the ``nova-compute`` script, with the repository on PYTHONPATH
        (tests.openstack.nova_testbed.cloud_arguments gives all three for its driver)."""
        self.root = root
        self.compute_launcher = compute_launcher
        self.logs = root / "logs"
        self.backing = Backing(DATABASES)
        self.site = configs.Site(
            root=root, venv=venv, backing=self.backing, compute_driver=compute_driver,
            compute_options=compute_options or {},
            ports={name: free_port() for name in ("keystone", "placement", "glance", "nova",
                                                  "neutron")},
            service_password=secrets.token_urlsafe(16))
        self.passwords = {ADMIN: secrets.token_urlsafe(16), TEST_USER: secrets.token_urlsafe(16)}
        self.services: list[Service] = []
        self.project_id = ""  # of the test project, once made

    # -- credentials

    def auth(self, user: str = TEST_USER) -> dict[str, str]:
        """Keyword arguments of ``openstack.connect`` for ``user`` (``ndovu``, a member of
        the project ``ndovu``, or ``admin``, an administrator in the project ``admin``)."""
        return {"auth_url": self.site.auth_url, "username": user,
                "password": self.passwords[user], "project_name": user,
                "user_domain_name": "Default", "project_domain_name": "Default",
                "region_name": configs.REGION}

    def connect(self, user: str = TEST_USER) -> Connection:
        """A connection as ``user`` that reads no clouds.yaml and no OS_* variables."""
        return Connection(**self.auth(user))

    @functools.cached_property
    def admin(self) -> Connection:
        """A connection as ``admin``, kept (made once the catalog is complete: a
        connection keeps the catalog of its first token)."""
        return self.connect(ADMIN)

    def clouds_yaml(self) -> str:
        """A clouds.yaml with the clouds ``ndovu`` and ``ndovu-admin``."""
        lines = ["clouds:"]
        for cloud, user in (("ndovu", TEST_USER), ("ndovu-admin", ADMIN)):
            auth = self.auth(user)
            region = auth.pop("region_name")
            lines += [f"  {cloud}:", f"    region_name: {region}", "    auth:"]
            lines += [f"      {key}: {value}" for key, value in auth.items()]
        return "\n".join(lines) + "\n"

    # -- start and stop

    def start(self) -> Cloud:
        """Start every service and fill the cloud (catalog, users, flavors, image, public
        network); on any failure stop what was started and raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        kill_all(self.services)
        self.services.clear()
        self.backing.remove()

    def _start(self) -> None:
        """Migrations run side by side; each API starts as soon as its database is ready,
        the computes once Keystone knows the services' user and Placement answers, and
        the cloud is filled while Nova's API and the computes come up."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=12) as pool:
            vhost = pool.submit(self.backing.create_vhost)
            self.backing.create_databases()
            keystone = pool.submit(self._start_keystone)
            placement = pool.submit(self._start_placement)
            glance = pool.submit(self._start_glance)
            neutron = pool.submit(self._start_neutron, vhost)
            nova = pool.submit(self._start_nova, self._migrate_nova(pool), vhost, keystone)
            keystone.result()
            vhost.result()
            placement.result()
            self._start_computes()
            glance.result()
            self._fill_images()
            neutron.result()
            self._fill_networks()
            nova.result()
            self._fill_flavors()
            self.lift_quotas()
        self._wait_for_computes()

    def _service(self, name: str, program: str, config: Path) -> Service:
        return self._start_service(name, [self._bin(program)], config)

    def _start_service(self, name: str, command: list[str], config: Path,
                       env: dict[str, str] | None = None) -> Service:
        service = Service(name, [*command, "--config-file", str(config)],
                          self.logs / f"{name}.log", env)
        self.services.append(service)
        return service.start()

    def _api(self, name: str, module: str, env: dict[str, str]) -> Service:
        service = uwsgi(name, self.site.venv, module, self.site.ports[name],
                        self.logs / f"{name}.log", env)
        self.services.append(service)
        return service.start()

    def _manage(self, name: str, program: str, config_files: list[Path], *command: str) -> None:
        """Run a ``*-manage`` command, always with explicit configuration files; its
        output in logs/``name``.log."""
        args = [a for config in config_files for a in ("--config-file", str(config))]
        run(name, [self._bin(program), *args, *command], self.logs / f"{name}.log")

    def _bin(self, program: str) -> str:
        return str(self.site.venv / "bin" / program)

    def _start_keystone(self) -> None:
        """Keystone, with the catalog and the users."""
        conf = [configs.write(self.root / "keystone/keystone.conf", configs.keystone(self.site))]
        # the key repositories that keystone-manage fernet_setup and credential_setup make
        # (a staged key 0 and a primary key 1), without two more slow Keystone processes
        for repository in ("fernet-keys", "credential-keys"):
            folder = self.root / "keystone" / repository
            folder.mkdir(mode=0o700)
            for index in ("0", "1"):
                (folder / index).write_bytes(base64.urlsafe_b64encode(secrets.token_bytes(32)))
                (folder / index).chmod(0o600)
        self._manage("keystone-db-sync", "keystone-manage", conf, "db_sync")
        url = self.site.auth_url
        self._manage("keystone-bootstrap", "keystone-manage", conf, "bootstrap",
                     # "=": a generated password may begin with "-"
                     f"--bootstrap-password={self.passwords[ADMIN]}",
                     "--bootstrap-region-id", configs.REGION, "--bootstrap-admin-url", url,
                     "--bootstrap-internal-url", url, "--bootstrap-public-url", url)
        self._api("keystone", "keystone.wsgi.api",
                  {"OS_KEYSTONE_CONFIG_DIR": str(self.root / "keystone")}
                  ).wait_http(url, START_TIMEOUT)
        self._fill_identity()

    def _start_placement(self) -> None:
        conf = [configs.write(self.root / "placement/placement.conf", configs.placement(self.site))]
        self._manage("placement-db-sync", "placement-manage", conf, "db", "sync")
        self._api("placement", "placement.wsgi.api",
                  {"OS_PLACEMENT_CONFIG_DIR": str(self.root / "placement")}
                  ).wait_http(self.site.url("placement"), START_TIMEOUT)

    def _start_glance(self) -> None:
        conf = [configs.write(self.root / "glance/glance-api.conf", configs.glance(self.site))]
        self._manage("glance-db-sync", "glance-manage", conf, "db_sync")
        self._api("glance", "glance.wsgi.api", {"OS_GLANCE_CONFIG_DIR": str(self.root / "glance")}
                  ).wait_http(self.site.url("glance"), START_TIMEOUT)

    def _start_neutron(self, vhost: Future[None]) -> None:
        conf = configs.write(self.root / "neutron/neutron.conf", configs.neutron(self.site))
        ml2 = configs.write(self.root / "neutron/ml2_conf.ini", configs.ml2())
        self._manage("neutron-db-sync", "neutron-db-manage", [conf, ml2], "upgrade", "heads")
        vhost.result()
        self._api("neutron", "neutron.wsgi.api",
                  {"OS_NEUTRON_CONFIG_DIR": str(self.root / "neutron"),
                   "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini"}
                  ).wait_http(self.site.url("neutron"), START_TIMEOUT)

    def _migrate_nova(self, pool: ThreadPoolExecutor) -> Future[Path]:
        """Nova's API database and cell mappings, and its two cell databases, side by
        side; the future's result is the configuration of Nova's controller services."""
        conf = configs.write(self.root / "nova/nova.conf", configs.nova(self.site))
        cell0 = configs.write(self.root / "nova/cell0.conf",
                              {"database": {"connection": self.backing.database_url("nova_cell0")}})

        def api_and_cells() -> Path:
            self._manage("nova-api-db-sync", "nova-manage", [conf], "api_db", "sync")
            mappings = [
                pool.submit(self._manage, "nova-map-cell0", "nova-manage", [conf], "cell_v2",
                            "map_cell0", "--database_connection",
                            self.backing.database_url("nova_cell0")),
                pool.submit(self._manage, "nova-create-cell1", "nova-manage", [conf], "cell_v2",
                            "create_cell", "--name", "cell1", "--database_connection",
                            self.backing.database_url("nova_cell1"),
                            "--transport-url", self.backing.transport_url)]
            for step in cell_databases + mappings:
                step.result()
            return conf

        cell_databases = [
            pool.submit(self._manage, "nova-cell1-db-sync", "nova-manage", [conf],
                        "db", "sync", "--local_cell"),
            pool.submit(self._manage, "nova-cell0-db-sync", "nova-manage", [conf, cell0],
                        "db", "sync", "--local_cell")]
        return pool.submit(api_and_cells)

    def _start_nova(self, conf: Future[Path], *before: Future[None]) -> None:
        """Nova's conductor, scheduler and API, once its databases and ``before`` are
        ready (the conductor authenticates at start)."""
        config = conf.result()
        for prerequisite in before:
            prerequisite.result()
        self._service("nova-conductor", "nova-conductor", config)
        self._service("nova-scheduler", "nova-scheduler", config)
        self._api("nova", "nova.wsgi.osapi_compute",
                  # the API reads its paste pipeline from the first file
                  {"OS_NOVA_CONFIG_DIR": str(self.root / "nova"),
                   "OS_NOVA_CONFIG_FILES": f"{self.site.venv}/etc/nova/api-paste.ini;nova.conf"}
                  ).wait_http(self.site.url("nova"), START_TIMEOUT)

    def _start_computes(self) -> None:
        command, env = [self._bin("nova-compute")], None
        if self.compute_launcher:  # e.g. tests.openstack.nova_testbed's driver
            command = [self._bin("python"), "-m", self.compute_launcher]
            path = [str(REPOSITORY), *filter(None, [os.environ.get("PYTHONPATH")])]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        for host in COMPUTE_HOSTS:
            self._start_service(f"nova-compute-{host}", command,
                                configs.write(self.root / host / "nova.conf",
                                              configs.nova_compute(self.site, host)), env)

    # -- contents

    def _fill_identity(self) -> None:
        """The catalog, the services' user, and the test project with its member."""
        identity = self.connect(ADMIN).identity
        for name, kind, path in CATALOG:
            service = identity.create_service(name=name, type=kind)
            identity.create_endpoint(service_id=service.id, interface="public",
                                     url=self.site.url(name) + path, region_id=configs.REGION)
        roles = {role.name: role for role in identity.roles()}

        def project_with_user(project_name: str, user_name: str, password: str,
                              *role_names: str) -> str:
            project = identity.create_project(name=project_name, domain_id="default")
            user = identity.create_user(name=user_name, password=password,
                                        default_project_id=project.id, domain_id="default")
            for role in role_names:
                identity.assign_project_role_to_user(project, user, roles[role])
            return project.id

        project_with_user(configs.SERVICE_PROJECT, configs.SERVICE_USER,
                          self.site.service_password, "admin", "service")
        self.project_id = project_with_user(TEST_PROJECT, TEST_USER, self.passwords[TEST_USER],
                                            "member")

    def _fill_images(self) -> None:
        # a few bytes: what the fake driver boots is never read
        self.admin.image.create_image(IMAGE, data=b"not a real disk", disk_format="raw",
                                 allow_duplicates=True,  # a fresh cloud: no look-up
                                 container_format="bare", visibility="public")

    def _fill_networks(self) -> None:
        """The external network floating IPs come from."""
        public = self.admin.network.create_network(
            name=PUBLIC_NETWORK, is_router_external=True, provider_network_type="flat",
            provider_physical_network=PUBLIC_NETWORK)
        self.admin.network.create_subnet(network_id=public.id, ip_version=4, cidr=PUBLIC_CIDR,
                                    is_dhcp_enabled=False)

    def _fill_flavors(self) -> None:
        for name, (vcpus, ram, disk) in FLAVORS.items():
            self.admin.compute.create_flavor(name=name, vcpus=vcpus, ram=ram, disk=disk)

    def _wait_for_computes(self) -> None:
        """Wait until Nova lists both computes' nodes (so the scheduler has mapped them to
        the cell: Nova neither lists nor schedules to an unmapped host) and Placement has
        their inventories."""
        def ready() -> bool:
            placement = self.admin.placement
            providers = list(placement.resource_providers())
            return (len(list(self.admin.compute.hypervisors())) == len(COMPUTE_HOSTS)
                    and len(providers) == len(COMPUTE_HOSTS)
                    and all(list(placement.resource_provider_inventories(provider))
                            for provider in providers))

        wait_until(ready, "both compute nodes in Nova and Placement", START_TIMEOUT,
                   self.services)

    # -- helpers for tests

    def lift_quotas(self) -> None:
        """No quota limits the test project (as at start)."""
        self.admin.compute.update_quota_set(self.project_id,
                                            **dict.fromkeys(COMPUTE_QUOTAS, -1))
        self.admin.network.update_quota(self.project_id, **dict.fromkeys(NETWORK_QUOTAS, -1))

    def set_compute_quotas(self, **limits: int) -> None:
        """Limit the test project, e.g. ``set_compute_quotas(instances=1)``."""
        self.admin.compute.update_quota_set(self.project_id, **limits)

    def make_network(self, conn: Connection, name: str,
                     cidr: str = "10.10.0.0/24") -> tuple[Network, Subnet]:
        """A project network with a subnet, routed to ``public`` so that its ports can
        have floating IPs; returns (network, subnet)."""
        network = conn.network.create_network(name=name)
        subnet = conn.network.create_subnet(name=name, network_id=network.id, ip_version=4,
                                            cidr=cidr)
        public = conn.network.find_network(PUBLIC_NETWORK, ignore_missing=False)
        router = conn.network.create_router(name=name,
                                            external_gateway_info={"network_id": public.id})
        conn.network.add_interface_to_router(router, subnet=subnet.id)
        return network, subnet

    def make_testbed_network(self, name: str = "testbed") -> tuple[Network, Subnet]:
        """The network of servers booted by tests.openstack.nova_testbed's driver: flat on
        the physical network ``testbed`` (the bed's bridge), made by admin for the test
        project, which owns it so that its member may choose ports' MACs and addresses
        (Neutron lets the network's owner do that). Its subnet is the bed's whole
        198.18.0.0/15, without gateway (nothing is routed out) or DHCP (the driver sets
        addresses itself), and gives out addresses only from the part the bed's own
        hosts never use; returns (network, subnet)."""
        admin = self.admin.network
        network = admin.create_network(name=name, project_id=self.project_id,
                                       provider_network_type="flat",
                                       provider_physical_network=TESTBED_PHYSNET)
        pool = testbed_network.OTHER_HOSTS
        subnet = admin.create_subnet(
            name=name, network_id=network.id, project_id=self.project_id, ip_version=4,
            cidr=str(testbed_network.WHOLE_NETWORK), gateway_ip=None, is_dhcp_enabled=False,
            allocation_pools=[{"start": str(pool.network_address + 1),
                               "end": str(pool.broadcast_address - 1)}])
        return network, subnet
