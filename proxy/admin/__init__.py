"""Managing a running proxy from the command line: the CLI and its HTTP client."""

__all__ = ["cli", "client"]
