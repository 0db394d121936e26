"""Human survey data: respondent CSV + codebook -> respondents, traits, responses."""

from silico.core.data._profiles import CCES_2018_TRAITS, GSS_TRAITS, PROFILES
from silico.core.data._survey import Codebook, SurveyData, TraitColumn, load_survey

__all__ = [
    "CCES_2018_TRAITS",
    "GSS_TRAITS",
    "PROFILES",
    "Codebook",
    "SurveyData",
    "TraitColumn",
    "load_survey",
]
