"""Telling the vendor: signed callbacks of finished calls (and feed events).

Below the web layer: it may import workers, tenants, tokens, db and config, never
``billhive.platform``; the workers run its jobs, the API only shows its log.
"""
