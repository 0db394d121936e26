"""Built-in survey schemes: the coarse categories of common US surveys, labelled as the
harmonised columns of the bundled GSS and CCES data label them."""

from __future__ import annotations

from silico.core.errors import NotFoundError
from silico.core.traits._catalogue import Scheme, interval_mapping, label_mapping

SCHEMES: dict[str, Scheme] = {
    "age4": interval_mapping("age", [18, 30, 50, 65, 100], ["18-29", "30-49", "50-64", "65+"]),
    "gender2": label_mapping("gender", {"Male": ["Male"], "Female": ["Female"]}),
    "race5": label_mapping(
        "race",
        {
            "White": ["White"],
            "Black": ["Black"],
            "Hispanic": ["Hispanic"],
            "Asian": ["Asian"],
            "Other": ["Native American", "Other or mixed"],
        },
    ),
    "educ6": label_mapping(
        "education",
        {
            "Less than high school": ["Less than high school"],
            "High school graduate": ["High school graduate"],
            "Some college, no degree": ["Some college, no degree"],
            "Associate's degree": ["Associate's degree"],
            "Bachelor's degree": ["Bachelor's degree"],
            "Postgraduate": ["Postgraduate degree"],
        },
    ),
    # GSS income_cat5 bands.
    "income_gss5": interval_mapping(
        "income",
        [0, 30e3, 50e3, 75e3, 110e3, 500e3],
        [
            "Under $30,000",
            "$30,000-$49,999",
            "$50,000-$74,999",
            "$75,000-$109,999",
            "$110,000 or more",
        ],
    ),
    # CCES faminc_new collapsed on its own band edges (70-80k and 100-120k bands stay whole).
    "income_cces5": interval_mapping(
        "income",
        [0, 30e3, 50e3, 80e3, 120e3, 500e3],
        [
            "Under $30,000",
            "$30,000-$49,999",
            "$50,000-$79,999",
            "$80,000-$119,999",
            "$120,000 or more",
        ],
    ),
    "region4": label_mapping(
        "region",
        {"Northeast": ["Northeast"], "Midwest": ["Midwest"], "South": ["South"], "West": ["West"]},
    ),
    "relig5": label_mapping(
        "religion",
        {
            "Protestant": ["Protestant"],
            "Catholic": ["Catholic"],
            "Jewish": ["Jewish"],
            "Other": ["Muslim", "Other religion"],
            "No religion": ["No religion"],
        },
    ),
    "party4": label_mapping(
        "party",
        {
            "Democrat": ["Democrat"],
            "Republican": ["Republican"],
            "Independent": ["Independent"],
            "Other party": ["Something else"],
        },
    ),
    "ideo5": label_mapping(
        "ideology",
        {
            c: [c]
            for c in ("Very liberal", "Liberal", "Moderate", "Conservative", "Very conservative")
        },
    ),
}


def get_scheme(name: str) -> Scheme:
    """Look up a built-in scheme by name (``"age4"``, ``"party4"``, ...)."""
    try:
        return SCHEMES[name]
    except KeyError:
        raise NotFoundError("scheme", name) from None
