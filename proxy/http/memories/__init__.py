"""The memory management API (/memories...): routes, bodies, export/import, paging."""
