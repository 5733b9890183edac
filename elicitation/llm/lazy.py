"""litellm, imported on first use.

Importing litellm (and openai behind it) takes seconds of CPU. Every process imports
this package (its models, the stage table, the prompts), but most never call a model:
``manage.py check``, ``export``, ``report``, the sweep. So the modules here name
``litellm`` through this proxy, which imports the real module on the first attribute
read and sets it up once: the local cost map (no network at import), no debug banner,
and the offline provider registered.

Tests that patch ``litellm.completion`` on the real module still take effect: the proxy
looks the attribute up on the module at every read.
"""

from __future__ import annotations

import importlib
import os
import threading
from types import ModuleType
from typing import Any

# Read by litellm at import time: otherwise it fetches its model cost map from the
# network, and a study must run with no network.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_lock = threading.RLock()


class LazyModule:
    """A module imported, and set up by ``setup``, when an attribute is first read."""

    def __init__(self, name: str, setup=None):
        self._name = name
        self._setup = setup
        self._module: ModuleType | None = None

    def load(self) -> ModuleType:
        if self._module is None:
            with _lock:
                if self._module is None:
                    module = importlib.import_module(self._name)
                    if self._setup is not None:
                        self._setup(module)
                    self._module = module
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded yet"
        return f"<lazy module {self._name} ({state})>"


def _setup_litellm(module: ModuleType) -> None:
    # litellm prints a "Give Feedback / Get Help" banner on every exception; our own
    # log and LLMCall rows carry what matters.
    module.suppress_debug_info = True
    from elicitation.llm.offline import provider  # subclasses litellm's CustomLLM

    provider.register()


litellm = LazyModule("litellm", _setup_litellm)
