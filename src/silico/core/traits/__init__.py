"""Demographic traits: the persona questionnaire's catalogue and survey schemes."""

from silico.core.traits._catalogue import (
    CATALOGUE,
    PREFER_NOT,
    TRAIT_NAMES,
    Scheme,
    Trait,
    coarsen,
    get_trait,
    interval_mapping,
    label_mapping,
)
from silico.core.traits._schemes import SCHEMES, get_scheme

__all__ = [
    "CATALOGUE",
    "PREFER_NOT",
    "SCHEMES",
    "TRAIT_NAMES",
    "Scheme",
    "Trait",
    "coarsen",
    "get_scheme",
    "get_trait",
    "interval_mapping",
    "label_mapping",
]
