"""API tokens: who may use the developer API, for which tenants, and their callbacks."""
