"""The developer JSON API under ``/api/v1`` (see docs/api.md and ``/api/docs``)."""
