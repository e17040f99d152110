"""memory-proxy: an OpenAI-compatible HTTP proxy that gives LLM apps long-term memory."""

__version__ = "0.1.0"
