"""The one way the proxy imports litellm: lazily (2-3 s and ~165 MB, only when a feature needs
it), and never before its environment is set (offline, it would try to fetch its cost map from
the internet at import and log warnings while it retries)."""

from __future__ import annotations

import logging
import os
from types import ModuleType

__all__ = ["litellm"]


def litellm() -> ModuleType:
    """The litellm module, imported on first use."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as module

    # Its "Give Feedback / Get Help" banner is printed on every failed call otherwise, and at
    # the proxy's `info` level its loggers would print a line per call.
    module.suppress_debug_info = True
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    return module
