"""Silico: virtual survey panels from LLM personas."""

__version__ = "0.1.0"
