"""The memory management API (/memories...): routes, bodies, export/import, paging."""

__all__ = ["access", "injections", "paging", "routes", "schemas", "transfer"]
