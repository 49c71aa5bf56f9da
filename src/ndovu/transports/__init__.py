"""How roles act on a node: the Transport protocol and its implementations.

``ndovu.transports.local`` and ``ndovu.transports.ssh`` (asyncssh, imported only by
whoever builds SSH nodes) implement it.
"""

from ndovu.transports.base import (
    CommandResult,
    HostKeyError,
    PackageError,
    Transport,
    TransportError,
)

__all__ = ["CommandResult", "HostKeyError", "PackageError", "Transport", "TransportError"]
