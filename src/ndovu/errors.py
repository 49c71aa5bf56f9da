"""One exception hierarchy for the whole server.

Every error names what failed, where (``field`` or ``node``) and what to do about it.
``retryable`` tells the engine whether running the step again may succeed; the API maps
each class to an HTTP status once, in ``ndovu.api.errors``.
"""

from __future__ import annotations


class NdovuError(Exception):
    """Base class. ``code`` is a stable machine-readable identifier."""

    code = "error"
    retryable = False

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint

    def to_dict(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.hint:
            body["hint"] = self.hint
        return body


class SpecError(NdovuError):
    """A cluster spec or a request built from one is invalid."""

    code = "invalid_spec"


class NotFoundError(NdovuError):
    code = "not_found"


class ConflictError(NdovuError):
    code = "conflict"


class AuthError(NdovuError):
    """Not authenticated. The message never says whether the user exists."""

    code = "unauthorized"


class ForbiddenError(NdovuError):
    """Authenticated, but not allowed (e.g. only an administrator may create users)."""

    code = "forbidden"


class TooManyRequestsError(NdovuError):
    """Refused for now (failed logins from one address); ``retry_after_s`` says when."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_s: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class CatalogError(NdovuError):
    """A catalog file (map, manifest or spec) is unreadable or invalid."""

    code = "invalid_catalog"


class ProviderError(NdovuError):
    """The infrastructure provider failed to do what was asked."""

    code = "provider_error"

    def __init__(self, message: str, *, node: str | None = None, retryable: bool = False,
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.node = node
        self.retryable = retryable


class NodePending(ProviderError):
    """Not a failure: the provider has started the node's work (a server is booting) and
    it is not done yet. The engine looks again after ``check_after_s`` without holding a
    slot of the provider's pool or counting a failed attempt; the provider bounds how
    long it lets the work take (e.g. the OpenStack provider's boot timeout)."""

    code = "node_pending"

    def __init__(self, message: str, *, node: str, check_after_s: float):
        super().__init__(message, node=node, retryable=True)
        self.check_after_s = check_after_s


class NodeBootstrapError(NdovuError):
    """A role could not configure, start or verify its software on a node."""

    code = "bootstrap_failed"

    def __init__(self, message: str, *, node: str, role: str, retryable: bool = False):
        super().__init__(message)
        self.node = node
        self.role = role
        self.retryable = retryable
