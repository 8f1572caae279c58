"""Change feeds: what changed in each merchant's Billbee, as ordered events.

Below the web layer, beside delivery: it may import workers, tenants, tokens, db and
config, never ``billhive.platform``. See docs/feeds.md.
"""
