"""The memory management API (/memories...): routes, bodies, export/import, paging."""

__all__ = ["access", "paging", "routes", "schemas", "transfer"]
