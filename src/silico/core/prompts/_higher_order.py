"""Higher-order items: self-opinion, in-group, out-group and meta-perception variants
generated from one declarative template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from silico.core.errors import ValidationError
from silico.core.prompts._items import Item

#: Perspectives of a higher-order item.
PERSPECTIVES = ("self", "ingroup", "outgroup", "meta")


@dataclass(frozen=True)
class HigherOrderTemplate:
    """One declarative item from which the four perspectives are generated.

    Parameters
    ----------
    id : str
    self_stem : str
        Self-opinion wording, e.g. ``"How warm or cold do you feel towards {target}?"``.
    group_stem : str
        Wording about a group's opinion, e.g.
        ``"How warm or cold do {group} feel towards {target}?"``.
    meta_stem : str
        Meta-perception wording, e.g. ``"How warm or cold do you think {group}
        feel towards {target}?"``.
    options : tuple of str
        Ordinal options.
    """

    id: str
    self_stem: str
    group_stem: str
    meta_stem: str
    options: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("self_stem", "group_stem", "meta_stem"):
            stem = getattr(self, name)
            if "{target}" not in stem:
                raise ValidationError(f"higher_order[{self.id}].{name}", "must contain {target}")
        for name in ("group_stem", "meta_stem"):
            if "{group}" not in getattr(self, name):
                raise ValidationError(f"higher_order[{self.id}].{name}", "must contain {group}")


@dataclass(frozen=True)
class Variant:
    """A generated item and what it measures."""

    item: Item
    perspective: str
    respondent_party: str
    target_party: str


def make_variants(
    template: HigherOrderTemplate,
    respondent_party: str,
    parties: Sequence[str] = ("Democrats", "Republicans"),
) -> list[Variant]:
    """The variants of a template as asked of a member of ``respondent_party``.

    * ``self``: the respondent's own opinion of the out-group
      ("How warm do **you** feel towards Republicans?", asked of a Democrat);
    * ``ingroup``: how the respondent's own party is rated by the respondent
      (self-opinion with target = own party);
    * ``outgroup``: how the respondent thinks the out-group would answer about
      the out-group's own party (perceived out-group self-view);
    * ``meta``: what the respondent believes the out-group thinks of the
      respondent's party ("How warm do you think Republicans feel towards
      Democrats?").

    Parameters
    ----------
    template : HigherOrderTemplate
    respondent_party : str
        One of ``parties`` (plural group names).
    parties : pair of str

    Examples
    --------
    >>> t = HigherOrderTemplate("warm", "How warm do you feel towards {target}?",
    ...     "How warm do {group} feel towards {target}?",
    ...     "How warm do you think {group} feel towards {target}?", ("Cold", "Warm"))
    >>> [v.item.question for v in make_variants(t, "Democrats")]  # doctest: +NORMALIZE_WHITESPACE
    ['How warm do you feel towards Republicans?', 'How warm do you feel towards Democrats?',
     'How warm do Republicans feel towards Republicans?',
     'How warm do you think Republicans feel towards Democrats?']
    """
    if len(parties) != 2 or respondent_party not in parties:
        raise ValidationError(
            "respondent_party", f"{respondent_party!r} is not one of {list(parties)}"
        )
    own = respondent_party
    other = parties[1] if own == parties[0] else parties[0]
    specs = (
        ("self", template.self_stem.format(target=other), other),
        ("ingroup", template.self_stem.format(target=own), own),
        ("outgroup", template.group_stem.format(group=other, target=other), other),
        ("meta", template.meta_stem.format(group=other, target=own), own),
    )
    return [
        Variant(
            Item(f"{template.id}.{persp}.{own.lower()}", question, template.options),
            persp,
            own,
            target,
        )
        for persp, question, target in specs
    ]
