"""Demographic traits: the persona questionnaire's catalogue and survey schemes."""

from silico.core.traits._catalogue import (
    CATALOGUE,
    MAX_CATEGORIES,
    PREFER_NOT,
    TRAIT_NAME,
    TRAIT_NAMES,
    Scheme,
    Trait,
    check_categories,
    check_sentences,
    coarsen,
    define_trait,
    get_trait,
    identity_scheme,
    interval_mapping,
    label_mapping,
)
from silico.core.traits._schemes import SCHEMES, get_scheme

__all__ = [
    "CATALOGUE",
    "MAX_CATEGORIES",
    "PREFER_NOT",
    "SCHEMES",
    "TRAIT_NAME",
    "TRAIT_NAMES",
    "Scheme",
    "Trait",
    "check_categories",
    "check_sentences",
    "coarsen",
    "define_trait",
    "get_scheme",
    "get_trait",
    "identity_scheme",
    "interval_mapping",
    "label_mapping",
]
