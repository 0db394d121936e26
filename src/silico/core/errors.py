"""Errors raised by the science core; the service runtime maps them to status codes."""

from __future__ import annotations


class SilicoError(Exception):
    """Base class of every error Silico raises on purpose."""


class ValidationError(SilicoError, ValueError):
    """Input that cannot be used, with the name of the offending field.

    Parameters
    ----------
    field : str
        Dotted path of the offending field (``"items[3].options"``).
    message : str
        What is wrong with it, in words a user can act on.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class NotFoundError(SilicoError, LookupError):
    """A named entity (study, persona, item, column) does not exist."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"{kind} not found: {name}")


class QuotaError(SilicoError):
    """A tenant's limit would be exceeded (maps to RESOURCE_EXHAUSTED)."""
