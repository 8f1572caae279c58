"""The Billbee API client and its throttle table (knows no tenant and no database)."""
