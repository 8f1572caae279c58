"""A local emulation of the Billbee API (a Flask app of its own).

It imports nothing of billhive but ``billhive.billbee.limits``: it stands in for Billbee.
"""

from billhive.sandbox.app import create_sandbox_app

__all__ = ["create_sandbox_app"]
