"""Emptying the test project after a test, so that the next one sees none of its
leftovers: every server, floating IP, router, port, network (with its subnets),
security group but ``default``, server group and key pair. Everything the test project
can make lives in that project or belongs to its user; the cloud's own ``public``
network belongs to the admin project and stays.
"""

from __future__ import annotations

from openstack.connection import Connection

SERVER_DELETE_TIMEOUT = 60


def empty_project(conn: Connection) -> None:
    """Delete what the project of ``conn``'s user holds, servers first (their pre-made
    ports stay behind, unbound) and networks last."""
    compute, network = conn.compute, conn.network
    project = {"project_id": conn.current_project_id}
    servers = list(compute.servers())
    for server in servers:
        compute.delete_server(server)
    for server in servers:
        compute.wait_for_delete(server, interval=0.5, wait=SERVER_DELETE_TIMEOUT)
    for group in compute.server_groups():
        compute.delete_server_group(group)
    for keypair in compute.keypairs():
        compute.delete_keypair(keypair)
    for ip in network.ips(**project):
        network.delete_ip(ip)
    for router in network.routers(**project):
        for port in network.ports(device_id=router.id, device_owner="network:router_interface"):
            network.remove_interface_from_router(router, port=port.id)
        network.delete_router(router)
    for port in network.ports(**project):
        network.delete_port(port)
    # a network's subnets go with it
    for net in network.networks(**project):
        network.delete_network(net)
    for group in network.security_groups(**project):
        if group.name != "default":
            network.delete_security_group(group)
