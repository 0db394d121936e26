"""Higher-order items: self-opinion, in-group, out-group and meta-perception variants
generated from one declarative template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from silico.core.errors import ValidationError
from silico.core.prompts._items import Item

#: Perspectives of a higher-order item (see :func:`make_variants`).
PERSPECTIVES = ("self", "own", "ingroup", "outgroup", "meta")

#: The perspectives asked per item kind. ``own`` (a rating of one's own party)
#: is what the hostility gap contrasts with ``self``; for a behaviour item it
#: would ask whether the respondent would act against their own party, which
#: no gap uses.
KIND_PERSPECTIVES = {
    "rating": ("self", "own", "ingroup", "outgroup", "meta"),
    "behaviour": ("self", "ingroup", "outgroup", "meta"),
}

#: The talk's meta-perception wording, wrapping the question the out-group
#: member would be asked.
META_WRAPPER = 'How would an average {member} respond to the following? "{question}"'

_PLACEHOLDERS = ("group", "target", "group_member", "target_member")


def default_members(parties: Sequence[str]) -> list[str]:
    """Singular member names of plural group names ("Democrats" -> "Democrat").

    >>> default_members(["Democrats", "Republicans", "Tories"])
    ['Democrat', 'Republican', 'Tory']
    """
    out = []
    for p in parties:
        if p.endswith("ies"):
            out.append(p[:-3] + "y")
        elif p.endswith("s"):
            out.append(p[:-1])
        else:
            out.append(p)
    return out


def check_stem(stem: str, name: str, needs_group: bool) -> None:
    """Raise a :class:`ValidationError` naming ``name`` if a stem cannot be filled.

    Stems may use ``{target}``/``{target_member}`` (the party a question is
    about, plural or singular) and ``{group}``/``{group_member}`` (whose
    opinion or behaviour it asks about).
    """
    try:
        stem.format(**{k: "x" for k in _PLACEHOLDERS})
    except (KeyError, IndexError, ValueError) as e:
        raise ValidationError(
            name, f"has an unknown placeholder or stray brace ({e}); use {{group}} and {{target}}"
        ) from None
    has_target = "{target}" in stem or "{target_member}" in stem
    has_group = "{group}" in stem or "{group_member}" in stem
    if not has_target or (needs_group and not has_group):
        need = "{group} and {target}" if needs_group else "{target}"
        raise ValidationError(name, f"must contain {need} (or their _member forms)")


@dataclass(frozen=True)
class HigherOrderTemplate:
    """One declarative item from which the perspectives are generated.

    Parameters
    ----------
    id : str
    self_stem : str
        The respondent's own opinion or willingness about ``{target}``, e.g.
        ``"Would you support using violence to block major laws proposed by {target}?"``.
    group_stem : str
        The same about a group, e.g.
        ``"Would {group} support using violence to block major {target_member} laws?"``.
    options : tuple of str
        Ordinal options, in the order they are shown.
    kind : {"rating", "behaviour"}
        rating: how a party is seen; behaviour: willingness to act against the
        other party. Decides the meta-perception wording and whether ``own``
        is asked (see :data:`KIND_PERSPECTIVES`).
    meta_stem : str, optional
        Overrides the generated meta-perception question; filled with
        ``{group}`` = the other party and ``{target}`` = the respondent's, e.g.
        ``"How warm or cold do you think {group} feel towards {target}?"``.

    Stems may also use ``{group_member}`` / ``{target_member}``, the singular
    member names ("Republican laws").
    """

    id: str
    self_stem: str
    group_stem: str
    options: tuple[str, ...]
    kind: str = "rating"
    meta_stem: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KIND_PERSPECTIVES:
            raise ValidationError(
                f"higher_order[{self.id}].kind", f"must be one of {list(KIND_PERSPECTIVES)}"
            )
        check_stem(self.self_stem, f"higher_order[{self.id}].self_stem", needs_group=False)
        check_stem(self.group_stem, f"higher_order[{self.id}].group_stem", needs_group=True)
        if self.meta_stem is not None:
            check_stem(self.meta_stem, f"higher_order[{self.id}].meta_stem", needs_group=True)


@dataclass(frozen=True)
class Variant:
    """A generated item and what it measures.

    ``target_party`` is the party the (quoted, for ``meta``) question names as
    ``{target}``.
    """

    item: Item
    perspective: str
    respondent_party: str
    target_party: str


def make_variants(
    template: HigherOrderTemplate,
    respondent_party: str,
    parties: Sequence[str] = ("Democrats", "Republicans"),
    members: Sequence[str] | None = None,
) -> list[Variant]:
    """The variants of a template as asked of a member of ``respondent_party``.

    For a respondent of party P (other party O):

    * ``self``: the respondent's own view of / action against O
      ("Would **you** support ... laws proposed by Republicans?", asked of a Democrat);
    * ``own``: the respondent's own rating of P (rating items only): the self
      stem with target = P;
    * ``ingroup``: P acting on / seeing O ("Would **Democrats** support ...
      Republican laws?"): the group stem with group = P, target = O;
    * ``outgroup``: O acting on / seeing P ("Would **Republicans** support ...
      Democrat laws?"): the group stem with group = O, target = P;
    * ``meta``: how an average O member would answer the question they would
      be asked about P: 'How would an average Republican respond to the
      following? "..."', quoting the self stem with target = P for a rating
      item (what O feels about P) and the in-group question for a behaviour
      item ("Would Democrats support ... Republican laws?"). A template's
      ``meta_stem`` replaces this wording.

    Parameters
    ----------
    template : HigherOrderTemplate
    respondent_party : str
        One of ``parties`` (plural group names).
    parties : pair of str
    members : pair of str, optional
        Singular member names, in the order of ``parties`` (default: the
        party names without the plural s).

    Examples
    --------
    >>> t = HigherOrderTemplate("violence",
    ...     "Would you support using violence to block major laws proposed by {target}?",
    ...     "Would {group} support using violence to block major {target_member} laws?",
    ...     ("Never", "Probably not", "Probably", "Definitely"), kind="behaviour")
    >>> for v in make_variants(t, "Democrats"):
    ...     print(f"{v.perspective}: {v.item.question}")
    self: Would you support using violence to block major laws proposed by Republicans?
    ingroup: Would Democrats support using violence to block major Republican laws?
    outgroup: Would Republicans support using violence to block major Democrat laws?
    meta: How would an average Republican respond to the following? "Would Democrats support using violence to block major Republican laws?"
    >>> w = HigherOrderTemplate("warm", "How warm or cold do you feel towards {target}?",
    ...     "How warm or cold do {group} feel towards {target}?", ("Very warm", "Very cold"))
    >>> {v.perspective: v.item.question for v in make_variants(w, "Democrats")}["meta"]
    'How would an average Republican respond to the following? "How warm or cold do you feel towards Democrats?"'
    """
    if len(parties) != 2 or respondent_party not in parties:
        raise ValidationError(
            "respondent_party", f"{respondent_party!r} is not one of {list(parties)}"
        )
    names = list(members) if members is not None else default_members(parties)
    if len(names) != 2:
        raise ValidationError("members", "needs one member name per party")
    member = dict(zip(parties, names, strict=True))
    own = respondent_party
    other = parties[1] if own == parties[0] else parties[0]

    def fill(stem: str, group: str, target: str) -> str:
        return stem.format(
            group=group, target=target, group_member=member[group], target_member=member[target]
        )

    ingroup = fill(template.group_stem, own, other)
    if template.meta_stem is not None:
        meta, meta_target = fill(template.meta_stem, other, own), own
    elif template.kind == "rating":
        # What the out-group member would be asked about P: their own rating of P.
        inner = fill(template.self_stem, other, own)
        meta, meta_target = META_WRAPPER.format(member=member[other], question=inner), own
    else:
        meta = META_WRAPPER.format(member=member[other], question=ingroup)
        meta_target = other
    specs = {
        "self": (fill(template.self_stem, own, other), other),
        "own": (fill(template.self_stem, own, own), own),
        "ingroup": (ingroup, other),
        "outgroup": (fill(template.group_stem, other, own), own),
        "meta": (meta, meta_target),
    }
    return [
        Variant(
            Item(f"{template.id}.{persp}.{own.lower()}", specs[persp][0], template.options),
            persp,
            own,
            specs[persp][1],
        )
        for persp in KIND_PERSPECTIVES[template.kind]
    ]
