"""billhive: one Billbee developer key, many merchants."""

__version__ = "0.1.0"
