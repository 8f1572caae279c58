"""Errors of the tenant services. Messages are safe to show: they never hold a secret."""

from __future__ import annotations

from billhive.tenants.rules import Problem


class TenantError(Exception):
    """Base of every tenant-service error; ``str(error)`` is safe to show a merchant."""


class RulesViolated(TenantError):
    """The username or password breaks Billbee's rules; nothing was sent or stored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class DuplicateUsername(TenantError):
    """Another live tenant already uses this Billbee username."""

    def __init__(self) -> None:
        super().__init__("This Billbee username is already connected to the platform.")


class CredentialsRefused(TenantError):
    """Billbee refused the username/API password (401/403); nothing was stored."""

    def __init__(self) -> None:
        super().__init__("Billbee refused this username and API password.")


class ApiAccessNotEnabled(TenantError):
    """Billbee says API access is switched off for the account; nothing was stored."""

    def __init__(self) -> None:
        super().__init__(
            "API access is switched off for this Billbee account. Switch it on in Billbee "
            "under Settings -> Billbee API -> General settings."
        )


class TenantNotFound(TenantError):
    """No tenant has this id."""

    def __init__(self, tenant_id: int) -> None:
        super().__init__(f"Tenant {tenant_id} does not exist.")
        self.tenant_id = tenant_id


class TenantStateError(TenantError):
    """The tenant's status does not allow this action (e.g. reconnecting a deleted tenant)."""


class VaultError(TenantError):
    """A sealed value cannot be opened or a key is missing; the message names the key id."""
