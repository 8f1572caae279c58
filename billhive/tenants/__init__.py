"""Merchants: the tenant model, password rules, the credential vault and services."""
