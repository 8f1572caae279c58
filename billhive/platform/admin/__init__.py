"""The developer admin dashboard: accounts, tenants, calls, audit log and /metrics.

Kept free of imports so ``billhive.models`` can load :mod:`.models` cheaply; the app
registers the dashboard with :func:`billhive.platform.admin.blueprint.init_app`.
"""
