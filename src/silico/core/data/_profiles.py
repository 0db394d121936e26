"""Trait columns of the two bundled datasets (CCES 2018 sample, GSS 2016/2018)."""

from __future__ import annotations

from silico.core.data._survey import TraitColumn

_CCES_RACE = {"1": "White", "2": "Black", "3": "Hispanic", "4": "Asian"} | {
    str(c): "Other" for c in (5, 6, 7, 8)
}
_CCES_RELIG = {
    "1": "Protestant",
    "2": "Catholic",
    "5": "Jewish",
    "9": "No religion",
    "10": "No religion",
    "11": "No religion",
} | {str(c): "Other" for c in (3, 4, 6, 7, 8, 12)}

#: CCES 2018 Common Content: codes mapped onto the built-in schemes.
CCES_2018_TRAITS = (
    TraitColumn(
        "age",
        "age_cat4",
        "age4",
        {"18-29": "18-29", "30-49": "30-49", "50-64": "50-64", "65+": "65+"},
    ),
    TraitColumn("gender", "gender", "gender2", {"1": "Male", "2": "Female"}),
    TraitColumn("race", "race", "race5", _CCES_RACE),
    TraitColumn(
        "education",
        "educ",
        "educ6",
        {
            "1": "Less than high school",
            "2": "High school graduate",
            "3": "Some college, no degree",
            "4": "Associate's degree",
            "5": "Bachelor's degree",
            "6": "Postgraduate",
        },
    ),
    TraitColumn(
        "income",
        "faminc_new",
        "income_cces5",
        {str(c): "Under $30,000" for c in (1, 2, 3)}
        | {str(c): "$30,000-$49,999" for c in (4, 5)}
        | {str(c): "$50,000-$79,999" for c in (6, 7, 8)}
        | {str(c): "$80,000-$119,999" for c in (9, 10)}
        | {str(c): "$120,000 or more" for c in range(11, 17)}
        | {"97": None},
    ),
    TraitColumn(
        "region", "region", "region4", {"1": "Northeast", "2": "Midwest", "3": "South", "4": "West"}
    ),
    TraitColumn("religion", "religpew", "relig5", _CCES_RELIG),
    TraitColumn(
        "party",
        "pid3",
        "party4",
        {"1": "Democrat", "2": "Republican", "3": "Independent", "4": "Other party", "5": None},
    ),
    TraitColumn(
        "ideology",
        "ideo5",
        "ideo5",
        {
            "1": "Very liberal",
            "2": "Liberal",
            "3": "Moderate",
            "4": "Conservative",
            "5": "Very conservative",
            "6": None,
        },
    ),
)

#: GSS 2016/2018: the harmonised label columns already use the schemes' labels.
GSS_TRAITS = (
    TraitColumn("age", "age_cat4", "age4"),
    TraitColumn("gender", "sex_label", "gender2"),
    TraitColumn("race", "race_eth5", "race5"),
    TraitColumn("education", "educ_cat6", "educ6"),
    TraitColumn("income", "income_cat5", "income_gss5"),
    TraitColumn("region", "region4", "region4"),
    TraitColumn("religion", "relig_cat", "relig5"),
    TraitColumn("party", "party3", "party4"),
    TraitColumn("ideology", "ideo5", "ideo5"),
)

PROFILES = {"cces_2018": CCES_2018_TRAITS, "gss_2016_2018": GSS_TRAITS}
