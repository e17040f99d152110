"""The HTTP surface: one module per route group, and who may call them."""
