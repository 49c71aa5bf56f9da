"""An ML2 mechanism driver that binds every port to any host that asks: the test cloud
runs Neutron without agents, and without a driver that binds, Nova's boots fail with
PortBindingFailed. The binding is what Open vSwitch would report (vif_type ``ovs``), the
port ACTIVE at once; no traffic ever flows.
"""

from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    def initialize(self) -> None:
        pass

    def bind_port(self, context: api.PortContext) -> None:
        if context.segments_to_bind:  # the network's first segment will do
            context.set_binding(context.segments_to_bind[0][api.ID], portbindings.VIF_TYPE_OVS,
                                {portbindings.CAP_PORT_FILTER: True},
                                status=constants.PORT_STATUS_ACTIVE)
