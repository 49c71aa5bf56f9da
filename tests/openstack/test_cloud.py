"""The test cloud does what the OpenStack provider's tests will count on, checked with
openstacksdk as the provider will use it: a tenant's network, security group, key pair,
anti-affinity server group and pre-made ports, servers booted on those ports on two
different hosts, a floating IP, errors in Nova's own words, a quota that bites, and
nothing left after cleaning up.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import openstack.exceptions
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from openstack.connection import Connection

from tests.openstack.cleanup import empty_project
from tests.openstack.cloud import IMAGE, PUBLIC_CIDR, PUBLIC_NETWORK, Cloud

pytestmark = pytest.mark.openstack

BOOT_TIMEOUT = 60


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


def _boot(conn: Connection, name: str, **attrs: object) -> object:
    return conn.compute.create_server(
        name=name, flavor_id=conn.compute.find_flavor("m1.small", ignore_missing=False).id,
        image_id=conn.image.find_image(IMAGE, ignore_missing=False).id, **attrs)


def test_credentials_as_arguments_and_as_clouds_yaml(cloud: Cloud, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    member = openstack.connect(**cloud.auth())
    assert member.identity.get_project(member.current_project_id).name == "ndovu"
    with pytest.raises(openstack.exceptions.ForbiddenException):
        list(member.compute.hypervisors())  # a member, not an administrator

    (tmp_path / "clouds.yaml").write_text(cloud.clouds_yaml())
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(tmp_path / "clouds.yaml"))
    admin = openstack.connect(cloud="ndovu-admin")
    assert {h.name for h in admin.compute.hypervisors()} == {"compute-1", "compute-2"}


def test_servers_on_premade_ports_apart_with_a_floating_ip(cloud: Cloud,
                                                           project: Connection) -> None:
    conn, admin = project, cloud.admin
    network, subnet = cloud.make_network(conn, "ndovu-net")
    group = conn.network.create_security_group(name="ndovu-nodes")
    conn.network.create_security_group_rule(
        security_group_id=group.id, direction="ingress", ethertype="IPv4", protocol="tcp",
        port_range_min=22, port_range_max=22, remote_ip_prefix="0.0.0.0/0")
    apart = conn.compute.create_server_group(name="ndovu-apart", policy="anti-affinity")
    conn.compute.create_keypair(name="ndovu-key", public_key=_public_key())
    ports = [conn.network.create_port(name=f"ndovu-{i}", network_id=network.id,
                                      security_group_ids=[group.id]) for i in range(2)]

    # one after the other: members of an anti-affinity group booted side by side may both
    # be scheduled to one host, and Nova's late check on the compute reschedules one
    servers = [conn.compute.wait_for_server(
        _boot(conn, f"ndovu-{i}", networks=[{"port": port.id}], key_name="ndovu-key",
              scheduler_hints={"group": apart.id}), interval=0.5, wait=BOOT_TIMEOUT)
        for i, port in enumerate(ports)]

    hosts = [admin.compute.get_server(server.id).compute_host for server in servers]
    assert sorted(hosts) == ["compute-1", "compute-2"]
    for server, port, host in zip(servers, ports, hosts, strict=True):
        bound = admin.network.get_port(port.id)
        assert (bound.device_id, bound.mac_address, bound.binding_host_id, bound.status) == \
            (server.id, port.mac_address, host, "ACTIVE")
        assert bound.fixed_ips[0]["subnet_id"] == subnet.id

    public = conn.network.find_network(PUBLIC_NETWORK, ignore_missing=False)
    ip = conn.network.create_ip(floating_network_id=public.id, port_id=ports[0].id)
    assert ip.fixed_ip_address == ports[0].fixed_ips[0]["ip_address"]
    assert ipaddress.ip_address(ip.floating_ip_address) in ipaddress.ip_network(PUBLIC_CIDR)

    empty_project(conn)
    assert not list(conn.compute.servers())
    assert not list(conn.compute.server_groups())
    assert not list(conn.compute.keypairs())
    mine = {"project_id": conn.current_project_id}
    assert not list(conn.network.ips(**mine))
    assert not list(conn.network.routers(**mine))
    assert not list(conn.network.ports(**mine))
    assert not list(conn.network.networks(**mine))
    assert not list(conn.network.subnets(**mine))
    assert [g.name for g in conn.network.security_groups(**mine)] == ["default"]


def test_boot_failures_in_novas_words(cloud: Cloud, project: Connection) -> None:
    conn = project
    network, _ = cloud.make_network(conn, "ndovu-net")
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    flavor = conn.compute.find_flavor("m1.small", ignore_missing=False)
    boot = {"networks": [{"uuid": network.id}]}

    rejected = openstack.exceptions.BadRequestException
    with pytest.raises(rejected, match="Flavor no-such-flavor could not be found"):
        conn.compute.create_server(name="x", flavor_id="no-such-flavor", image_id=image.id,
                                   **boot)
    missing_image = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(rejected, match="Can not find requested image"):
        conn.compute.create_server(name="x", flavor_id=flavor.id, image_id=missing_image,
                                   **boot)

    cloud.set_compute_quotas(instances=1)
    conn.compute.wait_for_server(_boot(conn, "first", **boot), interval=0.5, wait=BOOT_TIMEOUT)
    with pytest.raises(openstack.exceptions.ForbiddenException,
                       match="Quota exceeded for instances"):
        _boot(conn, "second", **boot)
