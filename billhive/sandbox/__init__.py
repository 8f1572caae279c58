"""A local emulation of the Billbee API (a Flask app of its own).

It imports nothing of billhive but ``billhive.billbee.limits`` and
``billhive.billbee.operations`` (pure data): it stands in for Billbee. See docs/sandbox.md.
"""

from billhive.sandbox.accounts import Account, SeedError, demo_accounts, load_seed_file
from billhive.sandbox.app import create_sandbox_app, implemented_operations
from billhive.sandbox.faults import FaultSpec, LatencySpec

__all__ = [
    "Account",
    "FaultSpec",
    "LatencySpec",
    "SeedError",
    "create_sandbox_app",
    "demo_accounts",
    "implemented_operations",
    "load_seed_file",
]
