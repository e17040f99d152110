"""Turn public benchmark files into eval cases (the files are the user's; nothing is bundled)."""

__all__ = ["locomo", "prefeval"]
