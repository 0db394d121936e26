"""Human survey data: a survey file (.sav, .dta, .parquet, .csv) and its codebook ->
respondents, traits, responses."""

from silico.core.data._inspect import (
    Coverage,
    Inspection,
    ItemProposal,
    TraitProposal,
    VariableSummary,
    coverage,
    draft_spec,
    inspect_dataset,
)
from silico.core.data._profiles import CCES_2018_TRAITS, GSS_TRAITS, PROFILES
from silico.core.data._readers import FORMATS, LABELLED, data_format, needs_codebook, read_dataset
from silico.core.data._survey import Codebook, SurveyData, TraitColumn, load_survey

__all__ = [
    "CCES_2018_TRAITS",
    "FORMATS",
    "GSS_TRAITS",
    "LABELLED",
    "PROFILES",
    "Codebook",
    "Coverage",
    "Inspection",
    "ItemProposal",
    "SurveyData",
    "TraitColumn",
    "TraitProposal",
    "VariableSummary",
    "coverage",
    "data_format",
    "draft_spec",
    "inspect_dataset",
    "load_survey",
    "needs_codebook",
    "read_dataset",
]
