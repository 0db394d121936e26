"""Silico: virtual survey panels from LLM personas."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the pure core never imports grpc.
    if name == "Client":
        import importlib

        return importlib.import_module("silico.client").Client
    raise AttributeError(name)
