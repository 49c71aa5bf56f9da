"""The test cloud's configuration files: one function per service, each returning the
sections of its INI file. Only what differs from the services' defaults is here, and
every path points into the cloud's folder (never /etc, never a fixed port).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path

from tests.openstack.backing import Backing

Sections = dict[str, dict[str, str]]

REGION = "RegionOne"
# the one Keystone user the services authenticate as (admin and service roles in the
# "service" project): token validation, Nova's calls to Placement and Neutron, and the
# service token Nova sends along with a user's token
SERVICE_USER = "openstack-services"
SERVICE_PROJECT = "service"


@dataclass(frozen=True)
class Site:
    """Where everything of one start of the test cloud is."""

    root: Path
    venv: Path
    ports: dict[str, int]  # keystone, placement, glance, nova, neutron
    service_password: str
    backing: Backing
    compute_driver: str
    # more sections of the computes' configuration, e.g. the options of compute_driver
    compute_options: Sections = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def auth_url(self) -> str:
        return self.url("keystone") + "/v3"


def write(path: Path, sections: Sections) -> Path:
    config = configparser.ConfigParser(interpolation=None)
    config.optionxform = str  # type: ignore[assignment,method-assign]
    config.read_dict(sections)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        config.write(f)
    return path


def _service_auth(site: Site) -> dict[str, str]:
    """The service user's credentials, as keystoneauth's password plugin reads them."""
    return {
        "auth_type": "password", "auth_url": site.auth_url, "region_name": REGION,
        "username": SERVICE_USER, "password": site.service_password,
        "project_name": SERVICE_PROJECT, "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def _authtoken(site: Site) -> dict[str, str]:
    return {"www_authenticate_uri": site.auth_url, **_service_auth(site)}


def keystone(site: Site) -> Sections:
    folder = site.root / "keystone"
    return {
        "database": {"connection": site.backing.database_url("keystone")},
        "token": {"provider": "fernet"},
        # the least bcrypt allows: every authentication checks a password
        "identity": {"password_hash_rounds": "4"},
        "fernet_tokens": {"key_repository": str(folder / "fernet-keys")},
        "fernet_receipts": {"key_repository": str(folder / "fernet-keys")},
        "credential": {"key_repository": str(folder / "credential-keys")},
    }


def placement(site: Site) -> Sections:
    return {
        "placement_database": {"connection": site.backing.database_url("placement")},
        "api": {"auth_strategy": "keystone"},
        "keystone_authtoken": _authtoken(site),
    }


def glance(site: Site) -> Sections:
    folder = site.root / "glance"
    return {
        "DEFAULT": {"enabled_backends": "fs:file",
                    "worker_self_reference_url": site.url("glance")},
        "database": {"connection": site.backing.database_url("glance")},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": str(folder / "images")},
        "os_glance_staging_store": {"filesystem_store_datadir": str(folder / "staging")},
        "os_glance_tasks_store": {"filesystem_store_datadir": str(folder / "tasks")},
        "keystone_authtoken": _authtoken(site),
        "paste_deploy": {"flavor": "keystone",
                         "config_file": str(site.venv / "etc/glance/glance-api-paste.ini")},
        "oslo_concurrency": {"lock_path": str(folder / "locks")},
    }


def _nova_common(site: Site, state: Path) -> Sections:
    """What the API, conductor, scheduler and computes share."""
    return {
        "DEFAULT": {"transport_url": site.backing.transport_url, "my_ip": "127.0.0.1",
                    "state_path": str(state)},
        "placement": _service_auth(site),
        "neutron": _service_auth(site),
        "service_user": {"send_service_user_token": "true", **_service_auth(site)},
        "oslo_concurrency": {"lock_path": str(state / "locks")},
        "vnc": {"enabled": "false"},
    }


def nova(site: Site) -> Sections:
    """The API, the conductor and the scheduler: the only Nova processes with databases."""
    sections = _nova_common(site, site.root / "nova")
    sections["DEFAULT"]["periodic_fuzzy_delay"] = "0"
    sections.update({
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": site.backing.database_url("nova_api")},
        "database": {"connection": site.backing.database_url("nova_cell1")},
        "keystone_authtoken": _authtoken(site),
        "conductor": {"workers": "1"},
        # the scheduler maps new computes to the cell (what nova-manage cell_v2
        # discover_hosts does) every 2 s, from its start on, not after a random delay
        "scheduler": {"workers": "1", "discover_hosts_in_cells_interval": "2"},
    })
    return sections


def nova_compute(site: Site, host: str) -> Sections:
    """A compute service named ``host``, its state (the compute node's identity file
    included) in a folder of its own; no database sections, as Nova requires."""
    sections = _nova_common(site, site.root / host)
    sections["DEFAULT"].update({
        "host": host, "compute_driver": site.compute_driver,
        # no agent reports a plugged VIF: do not wait for one
        "vif_plugging_is_fatal": "false", "vif_plugging_timeout": "0",
    })
    for name, options in site.compute_options.items():
        sections.setdefault(name, {}).update(options)
    return sections


def neutron(site: Site) -> Sections:
    folder = site.root / "neutron"
    return {
        "DEFAULT": {
            "core_plugin": "ml2", "service_plugins": "router", "auth_strategy": "keystone",
            "transport_url": site.backing.transport_url, "state_path": str(folder),
            "api_paste_config": str(site.venv / "etc/neutron/api-paste.ini"),
            # no agents: no RPC servers, nobody to notify
            "rpc_workers": "0", "rpc_state_report_workers": "0",
            "dhcp_agent_notification": "false",
            "notify_nova_on_port_status_changes": "false",
            "notify_nova_on_port_data_changes": "false",
        },
        "database": {"connection": site.backing.database_url("neutron")},
        "keystone_authtoken": _authtoken(site),
        "oslo_concurrency": {"lock_path": str(folder / "locks")},
    }


def ml2() -> Sections:
    return {
        "ml2": {"type_drivers": "flat,vxlan", "tenant_network_types": "vxlan",
                "mechanism_drivers": "ndovu_bind_all", "extension_drivers": "port_security"},
        # public: floating IPs; testbed: the test bed's bridge (Cloud.make_testbed_network)
        "ml2_type_flat": {"flat_networks": "public,testbed"},
        "ml2_type_vxlan": {"vni_ranges": "1:10000"},
    }
