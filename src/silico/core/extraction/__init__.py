"""Answer extraction: option distributions from logprobs, options from sampled text."""

from silico.core.extraction._logprobs import (
    OptionScores,
    combine_with_followup,
    option_distribution,
)
from silico.core.extraction._text import parse_text_answer, sampled_distribution

__all__ = [
    "OptionScores",
    "combine_with_followup",
    "option_distribution",
    "parse_text_answer",
    "sampled_distribution",
]
