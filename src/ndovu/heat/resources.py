"""The Heat resource types ``VirtualElephant::VMware::BDE`` and ``Ndovu::Cluster``: their
properties and how they become an ndovu cluster request (the lifecycle they share is in
``cluster_resource``). ``resource_mapping`` is what Heat's plugin loader looks for.
"""

from __future__ import annotations

import re
from typing import Any

from heat.common import exception
from heat.engine import constraints, properties, resource, support, translation
from oslo_log import log as logging

from . import cluster_resource, cluster_spec

LOG = logging.getLogger(__name__)

# not `from .cluster_resource import ...`: under plugin_dirs that may load a second copy
ClusterResource = cluster_resource.ClusterResource
NODE_GROUPS = cluster_resource.NODE_GROUPS
NODE_GROUPS_SCHEMA = cluster_resource.NODE_GROUPS_SCHEMA
PASSWORD_HELP = cluster_resource.PASSWORD_HELP


class BDECluster(ClusterResource):
    """The seed plugin's ``VirtualElephant::VMware::BDE``, on ndovu.

    Accepts every property of the seed's schema, so the seed templates run unchanged.
    The template's ``bde_endpoint``/``username``/``password`` are used when given;
    otherwise the ``[ndovu]`` section of heat.conf. ``network`` (or its alias
    ``cluster_net``) names an ndovu network, registered as a DHCP network before the
    create when the server has none of that name (as the seed plugin did, so the seed
    templates run without preparation); ``cluster_rp`` names an ndovu resource pool.
    ``vcm_server``, ``vio_config``, ``bde_config``, ``security_group`` and ``subnet``
    have no meaning on ndovu and are ignored.
    """

    support_status = support.SupportStatus()

    PROPERTIES = (
        BDE_ENDPOINT, VCM_SERVER, USERNAME, PASSWORD, CLUSTER_NAME, CLUSTER_TYPE, NETWORK,
        CLUSTER_NET, CLUSTER_PASSWORD, CLUSTER_RP, VIO_CONFIG, BDE_CONFIG, SECURITY_GROUP,
        SUBNET, NODE_GROUPS_PROP,
    ) = (
        "bde_endpoint", "vcm_server", "username", "password", "cluster_name",
        "cluster_type", "network", "cluster_net", "cluster_password", "cluster_rp",
        "vio_config", "bde_config", "security_group", "subnet", NODE_GROUPS,
    )

    NAME_PROPERTY = CLUSTER_NAME
    TYPE_PROPERTY = CLUSTER_TYPE
    IGNORED = (VCM_SERVER, VIO_CONFIG, BDE_CONFIG, SECURITY_GROUP, SUBNET)

    properties_schema = {
        BDE_ENDPOINT: properties.Schema(
            properties.Schema.STRING,
            "The ndovu server: a URL, or a bare host (http on port 8470). Default: "
            "[ndovu] endpoint in heat.conf."),
        VCM_SERVER: properties.Schema(
            properties.Schema.STRING, "vCenter of the seed plugin; ignored by ndovu.",
            update_allowed=True),
        USERNAME: properties.Schema(
            properties.Schema.STRING,
            "ndovu user; with password. Default: [ndovu] in heat.conf.",
            update_allowed=True),
        PASSWORD: properties.Schema(
            properties.Schema.STRING,
            "That user's password. Default: [ndovu] in heat.conf. Heat keeps property "
            "values with the stack: prefer the configuration.",
            update_allowed=True),
        CLUSTER_NAME: properties.Schema(
            properties.Schema.STRING,
            "Cluster name: letters, digits and underscores (BDE's rule). A change "
            "replaces the cluster.",
            required=True),
        CLUSTER_TYPE: properties.Schema(
            properties.Schema.STRING,
            "A type of ndovu's catalog, e.g. zookeeper, etcd, spark. A change replaces "
            "the cluster.",
            required=True),
        NETWORK: properties.Schema(
            properties.Schema.STRING,
            "An ndovu network (GET /v1/networks) whose address blocks the nodes get their "
            "addresses from. Default: the provider's own addresses."),
        CLUSTER_NET: properties.Schema(
            properties.Schema.STRING, "Alias of network (the seed templates' name)."),
        CLUSTER_PASSWORD: properties.Schema(properties.Schema.STRING, PASSWORD_HELP),
        CLUSTER_RP: properties.Schema(
            properties.Schema.STRING,
            "An ndovu resource pool (a capacity limit) for the cluster's nodes."),
        VIO_CONFIG: properties.Schema(
            properties.Schema.STRING, "Config file of the seed plugin; ignored by ndovu.",
            update_allowed=True),
        BDE_CONFIG: properties.Schema(
            properties.Schema.STRING, "Config file of the seed plugin; ignored by ndovu.",
            update_allowed=True),
        SECURITY_GROUP: properties.Schema(
            properties.Schema.STRING, "Neutron security group of the seed plugin; "
                                      "ignored by ndovu.", update_allowed=True),
        SUBNET: properties.Schema(
            properties.Schema.STRING, "Neutron subnet of the seed plugin; ignored by ndovu.",
            update_allowed=True),
        NODE_GROUPS_PROP: NODE_GROUPS_SCHEMA,
    }

    def translation_rules(self, props: properties.Properties) -> list[Any]:
        return [translation.TranslationRule(props, translation.TranslationRule.REPLACE,
                                            [self.NETWORK], value_path=[self.CLUSTER_NET])]

    def _template_connection(self, props: properties.Properties) -> dict[str, str | None]:
        return {"endpoint": props[self.BDE_ENDPOINT], "username": props[self.USERNAME],
                "password": props[self.PASSWORD]}

    def _request(self) -> cluster_spec.ClusterRequest:
        p = self.properties
        return cluster_spec.ClusterRequest(
            name=p[self.CLUSTER_NAME], cluster_type=p[self.CLUSTER_TYPE],
            groups=tuple(cluster_spec.overrides(p[NODE_GROUPS])),
            network=p[self.NETWORK], resource_pool=p[self.CLUSTER_RP],
            password=p[self.CLUSTER_PASSWORD])

    def _prepare(self, api: Any, request: cluster_spec.ClusterRequest) -> None:
        network = request.network
        if not network or self._call(f"read network {network!r}", api.get_network,
                                     network) is not None:
            return
        try:
            self._call(f"register network {network!r}", api.add_dhcp_network, network)
        except exception.Error:
            # registered meanwhile by someone else is as good; anything else fails
            if self._call(f"read network {network!r}", api.get_network, network) is None:
                raise
        LOG.info("%s: registered network %s as a DHCP network (it was unknown)", self.name,
                 network)


class NativeCluster(ClusterResource):
    """``Ndovu::Cluster``: a cluster of ndovu's catalog. No credentials in templates: the
    endpoint and credentials come from the ``[ndovu]`` section of heat.conf."""

    support_status = support.SupportStatus()

    PROPERTIES = (
        NAME, CLUSTER_TYPE, NODE_GROUPS_PROP, NETWORK, RESOURCE_POOL, DATASTORES, SUBNET,
        SECURITY_GROUPS, KEY_NAME, FLOATING_IP_NETWORK, CLUSTER_PASSWORD, CONFIGURATION,
        TIMEOUT,
    ) = (
        "name", "cluster_type", NODE_GROUPS, "network", "resource_pool", "datastores",
        "subnet", "security_groups", "key_name", "floating_ip_network", "cluster_password",
        "configuration", "timeout",
    )

    NAME_PROPERTY = NAME
    TYPE_PROPERTY = CLUSTER_TYPE
    IGNORED = (SUBNET, SECURITY_GROUPS, KEY_NAME, FLOATING_IP_NETWORK)
    # the default cluster name is made from the physical resource name
    physical_resource_name_limit = 40

    properties_schema = {
        NAME: properties.Schema(
            properties.Schema.STRING,
            "Cluster name: letters, digits and underscores. Default: made from the stack "
            "and resource names. A change replaces the cluster."),
        CLUSTER_TYPE: properties.Schema(
            properties.Schema.STRING,
            "A type of ndovu's catalog (GET /v1/catalog), e.g. zookeeper, etcd, spark. A "
            "change replaces the cluster.",
            required=True),
        NODE_GROUPS_PROP: NODE_GROUPS_SCHEMA,
        NETWORK: properties.Schema(
            properties.Schema.STRING,
            "An ndovu network whose address blocks the nodes get their addresses from."),
        RESOURCE_POOL: properties.Schema(
            properties.Schema.STRING, "An ndovu resource pool (a capacity limit)."),
        DATASTORES: properties.Schema(
            properties.Schema.LIST, "ndovu datastores the cluster may use.",
            schema=properties.Schema(properties.Schema.STRING), default=[]),
        SUBNET: properties.Schema(
            properties.Schema.STRING, "Neutron subnet; not applied by ndovu's API.",
            update_allowed=True),
        SECURITY_GROUPS: properties.Schema(
            properties.Schema.LIST, "Neutron security groups; not applied by ndovu's API.",
            schema=properties.Schema(properties.Schema.STRING), update_allowed=True),
        KEY_NAME: properties.Schema(
            properties.Schema.STRING, "Nova key pair; not applied by ndovu's API.",
            update_allowed=True),
        FLOATING_IP_NETWORK: properties.Schema(
            properties.Schema.STRING,
            "Network for floating IPs; not applied by ndovu's API (floating_ips is empty).",
            update_allowed=True),
        CLUSTER_PASSWORD: properties.Schema(properties.Schema.STRING, PASSWORD_HELP),
        CONFIGURATION: properties.Schema(
            properties.Schema.MAP,
            "Cluster configuration, one section per software, e.g. {spark: "
            "{worker.cores: 2}}. A change replaces the cluster.",
            default={}),
        TIMEOUT: properties.Schema(
            properties.Schema.NUMBER,
            "Minutes a create, resize, scale or resume may take before the resource fails "
            "(the stack's own timeout applies as well). Default: none.",
            constraints=[constraints.Range(min=0, max=24 * 60)],
            update_allowed=True),
    }

    def _timeout_s(self) -> float | None:
        props = getattr(self, "_update_props", None) or self.properties
        minutes = props[self.TIMEOUT]
        return None if not minutes else float(minutes) * 60

    def _request(self) -> cluster_spec.ClusterRequest:
        p = self.properties
        return cluster_spec.ClusterRequest(
            name=p[self.NAME] or self._default_name(), cluster_type=p[self.CLUSTER_TYPE],
            groups=tuple(cluster_spec.overrides(p[NODE_GROUPS])),
            configuration=p[self.CONFIGURATION] or None, network=p[self.NETWORK],
            resource_pool=p[self.RESOURCE_POOL], datastores=tuple(p[self.DATASTORES] or ()),
            password=p[self.CLUSTER_PASSWORD])

    def _default_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9_]", "_", self.physical_resource_name() or self.name)


def resource_mapping() -> dict[str, type[resource.Resource]]:
    return {
        "VirtualElephant::VMware::BDE": BDECluster,
        "Ndovu::Cluster": NativeCluster,
    }
