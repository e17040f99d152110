"""memory-proxy: an OpenAI-compatible HTTP proxy that gives LLM apps long-term memory."""

__all__ = ["__version__"]

__version__ = "0.1.0"
