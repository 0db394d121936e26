"""Measured text features for the rule-based backstory critic.

Everything here is a plain function of the text (stdlib only, no model): the
share of ASCII letters, of English function words and of recognisable English
words; repetition; first/second/third-person pronoun rates; verse layout;
prompt copies; and counts of pattern hits for frame breaks, fiction, off-topic
genres and concrete life facts. :func:`text_quality` returns them as a flat
``dict[str, float]`` (for score distributions in reports);
:func:`silico.core.prompts.check_backstory` turns them into a verdict.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from silico.core.prompts._backstory import (
    BACKSTORY_QUESTION_LONG,
    BACKSTORY_QUESTION_SHORT,
    CITIZEN_QUESTION,
    INTERVIEW_QUESTIONS,
    qa_turn,
)
from silico.core.prompts._wordlist import COMMON_WORDS, FUNCTION_WORDS

# ----------------------------------------------------------------- tokens

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?\u2026])\s+|\n+")


def _normalise(text: str) -> str:
    return text.translate(_APOSTROPHES)


def words_of(text: str) -> list[str]:
    """Lower-cased word tokens (letters, inner apostrophes kept).

    >>> words_of("I'm 34, born in Ohio!")
    ["i'm", 'born', 'in', 'ohio']
    """
    return [w.lower() for w in _WORD.findall(_normalise(text))]


_SUFFIXES = (
    # (suffix, replacements tried for the stem)
    ("iest", ("y",)),
    ("ies", ("y",)),
    ("ied", ("y",)),
    ("ier", ("y",)),
    ("ily", ("y",)),
    ("ings", ("", "e")),
    ("ing", ("", "e")),
    ("ers", ("", "e")),
    ("est", ("", "e")),
    ("ness", ("",)),
    ("ment", ("",)),
    ("ful", ("",)),
    ("less", ("",)),
    ("ly", ("", "le")),
    ("ed", ("", "e")),
    ("er", ("", "e")),
    ("es", ("", "e")),
    ("s", ("",)),
    ("'s", ("",)),
    ("s'", ("",)),
)


@lru_cache(maxsize=8192)
def is_known_word(word: str) -> bool:
    """Whether a lower-cased token is a listed English word or a regular inflection of one.

    >>> [is_known_word(w) for w in ("grandkids", "married", "hiking", "planned", "mineamos")]
    [True, True, True, True, False]
    """
    if word in COMMON_WORDS:
        return True
    if "'" in word:
        head, _, tail = word.partition("'")
        if tail == "t" and head.endswith("n"):  # didn't, can't, wasn't
            head = head[:-1] or head
            return head in COMMON_WORDS or head in ("ca", "wo", "sha")
        if tail in ("s", "m", "re", "ve", "ll", "d", ""):
            return is_known_word(head)
        return False
    for suffix, stems in _SUFFIXES:
        if len(word) > len(suffix) + 1 and word.endswith(suffix):
            base = word[: -len(suffix)]
            for rep in stems:
                if base + rep in COMMON_WORDS:
                    return True
            # doubled consonant: planned, running, bigger
            if len(base) > 2 and base[-1] == base[-2] and base[:-1] in COMMON_WORDS:
                return True
    return False


def _is_function(word: str) -> bool:
    if word in FUNCTION_WORDS:
        return True
    head, sep, _ = word.partition("'")
    return bool(sep) and (head in FUNCTION_WORDS or head in ("ca", "wo", "don", "isn", "didn"))


#: Frequent function words of other languages written in Latin script (Spanish,
#: French, German, Italian, Portuguese, Tagalog); words that are also English
#: ("a", "die", "do", "per", "con", ...) are left out.
_FOREIGN = frozenset(
    """
    el la los las que y en un una es por con para del lo se su sus mi mis muy pero
    como más yo tengo soy estoy fue hay también cuando porque sin sobre esta este
    estos estas nosotros ese todo todos
    le les des et est je suis une du dans pour avec pas qui sur au aux ce cette mais
    ou ai ma mon mes nous vous ils elle
    der das und ist ich nicht mit ein eine einem einen auf für sich auch sind wir
    bin habe zu dem den bei als
    il di che sono gli della nel ho anni sei con delle
    não é uma os em eu meu minha sou moro tenho na no
    ako ang ng sa mga ay
    """.split()
)
_AMBIGUOUS = frozenset({"no", "a", "die", "do", "per", "con", "son", "me", "he", "as", "at"})
FOREIGN_FUNCTION_WORDS = _FOREIGN - FUNCTION_WORDS - _AMBIGUOUS

_FOREIGN_ELISION = re.compile(r"^(?:j|l|d|qu|c|n|m|s)'[^\W\d_]{2,}$")

# ----------------------------------------------------------------- pronouns

_FIRST = frozenset("i me my mine myself i'm i've i'd i'll im ive id".split()) - {"id"}
_FIRST_PLURAL = frozenset("we us our ours ourselves we're we've we'd we'll".split())
_SECOND = frozenset("you your yours yourself yourselves you're you've you'd you'll".split())
_THIRD = frozenset(
    "he him his himself she her hers herself he's she's he'd she'd "
    "they them their theirs themselves they're they've".split()
)
_THIRD_SINGULAR = frozenset("he him his himself she her hers herself he's she's he'd she'd".split())

# ----------------------------------------------------------------- pattern lists


def _rx(patterns: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


#: Assistant / AI voice and mentions of the generation frame.
FRAME_PATTERNS = _rx(
    [
        r"\bas an? (?:ai|a\.i\.|artificial intelligence|language model|chatbot|virtual assistant|ai assistant)\b",
        r"\blanguage model\b",
        r"\b(?:i am|i'm) (?:just |only |simply )?(?:an? |your )(?:ai|artificial|virtual|digital|helpful|computer)\b",
        r"\b(?:i am|i'm) (?:just |only )?an? (?:computer )?program\b",
        r"\bas an assistant,? i\b",
        r"\bchatbot\b",
        r"\b(?:trained|created|developed|built|made) by (?:openai|hugging ?face|google|anthropic|meta|a team of (?:engineers|researchers))\b",
        r"\bopenai\b",
        r"\b(?:i am|i'm) not a (?:real |actual )?(?:person|human)\b",
        r"\bi (?:do not|don't|cannot|can't) have (?:any )?(?:personal (?:experiences?|feelings|opinions|memories|life|history)|feelings or|emotions|a (?:physical )?body|an age|a life story|a backstory)\b",
        r"\b(?:here is|here's) (?:a |an |my |the )?(?:short |brief |fictional |possible |sample |example )?(?:backstory|back story|story|bio|biography|response|answer|persona)\b",
        r"\bthis (?:interview|survey|backstory|back story|prompt|persona)\b",
        r"\bin this (?:survey|interview)\b",
        r"\bblog post\b",
        r"\b(?:fictional|hypothetical|made[- ]up) (?:character|persona|person|backstory)\b",
        r"\bdoes not (?:describe|represent) a real person\b",
        r"\bis there anything else i can\b",
        r"\bi hope this helps\b",
        r"\bhow (?:can|may) i (?:help|assist) you\b",
        r"\bi(?:'d| would) be happy to help\b",
    ]
)

#: Fiction markers with weights: 2 = decisive on its own, 1 = needs company.
FICTION_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(p, re.IGNORECASE), w)
    for p, w in [
        (r"\bonce upon a time\b", 2),
        (r"\bgalax(?:y|ies) far\b", 2),
        (r"\b(?:home|another|alien|distant|other) planets?\b", 2),
        (r"\bplanet (?!earth\b)[A-Z][\w-]+", 2),
        (r"\b(?:space ?ships?|star ?ships?|escape pod|space station|hyperspace|warp drive)\b", 2),
        (r"\binterstellar\b", 2),
        (r"\bsuper ?powers?\b", 2),
        (r"\bsecret identity\b", 2),
        (r"\bwizards?\b", 2),
        (r"\bsorcer(?:er|ers|ess|y)\b", 2),
        (r"\bwitchcraft\b", 2),
        (r"\bvampires?\b", 2),
        (r"\bwerewol(?:f|ves)\b", 2),
        (r"\b(?:elves|elven|goblins?|orcs?|unicorns?)\b", 2),
        (r"\benchanted\b", 2),
        (r"\btime[- ]travell?(?:er|ers|ing)\b|\btime machine\b", 2),
        (r"\bfrom the future\b|\b(?:the year|born in) (?:2[1-9]\d\d|[3-9]\d{3})\b", 2),
        (r"\bred planet\b|\b(?:space|mars|lunar|moon) (?:colony|colonies|base)\b", 2),
        (r"\b(?:mars|jupiter|venus|saturn|neptune|pluto|martian)\b", 1),
        (r"\bimmortal\b", 2),
        (r"\bearthlings?\b|\byour species\b|\bhuman race\b", 2),
        (r"\b(?:cast(?:ing)?|learn(?:ed)?) (?:magic |the )?spells?\b", 2),
        (r"\bmagic (?:powers?|wand|sword|spells?)\b", 2),
        (r"\b(?:my|the|our|a|faraway|northern|southern) kingdom\b|\bkingdom of\b", 1),
        (r"\bthe realm\b", 1),
        (r"\b(?:the|my father the) king\b|\bthe queen\b", 1),
        (r"\bprincess\b|\bcastle\b", 1),
        # weak markers, minus their everyday uses (games, tricks, Disney, sports teams)
        (r"(?<!dungeons and )(?<!dungeons & )(?<!komodo )\bdragons?\b(?! boat)", 1),
        (
            r"(?<!orlando )\bmagic(?:al)?\b"
            r"(?! (?:tricks?|shows?|kingdom|the gathering|johnson|mike|eraser|markers?))",
            1,
        ),
        (r"\baliens?\b", 1),
        (r"\bgalax(?:y|ies)\b", 1),
        (r"\brobots?\b", 1),
        (r"\bwitch(?:es)?\b|\bcursed?\b", 1),
        (r"\bhundreds? of years\b|\bcenturies\b", 1),
        (r"\bspaceport\b|\bouter space\b|\blight[- ]years?\b", 1),
    ]
)

#: Genre markers of recipes, product copy, news, encyclopaedia and advice texts.
OFF_TOPIC_PATTERNS = _rx(
    [
        r"\bingredients?\b",
        r"\bpreheat\b|\boven to \d+",
        r"\b(?:tablespoons?|teaspoons?|tbsp|tsp)\b",
        r"\b\d+ (?:cups?|cans?|pounds?|ounces?|oz|lbs?) (?:of )?\w+",
        r"\b(?:simmer|stir until|bake for|until golden|serves \d)\b",
        r"\bwarranty\b",
        r"\bdishwasher safe\b|\bbpa-free\b|\b\d+-watt\b",
        r"\b(?:available in|order now|free shipping|add to cart|introducing the)\b",
        r"\((?:ap|reuters|afp)\)",
        r"\bsaid (?:in a statement|on (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
        r"\b(?:lawmakers|officials said|spokesperson|press release)\b",
        r"\bcounty seat\b|\bas of the \d{4} census\b|\bpopulation (?:was|of) [\d,]+",
        r"\bmost populous\b",
        r"\b(?:first|second|third|finally),",
        r"\byou should\b",
        r"\bin conclusion\b",
        r"\bhere are (?:some|\d+|a few) (?:tips|ways|steps|reasons)\b",
    ]
)

#: Concrete life facts, by kind.
_US_STATES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|"
    "Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|"
    "Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|"
    "New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
    "Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|"
    "Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming|Puerto Rico"
)
_US_CITIES = (
    "Atlanta|Austin|Baltimore|Boston|Brooklyn|Buffalo|Charlotte|Chicago|Cincinnati|"
    "Cleveland|Columbus|Dallas|Denver|Detroit|El Paso|Fort Worth|Fresno|Honolulu|Houston|"
    "Indianapolis|Jacksonville|Kansas City|Las Vegas|Los Angeles|Louisville|Memphis|Miami|"
    "Milwaukee|Minneapolis|Nashville|New Orleans|Newark|Oakland|Oklahoma City|Omaha|"
    "Orlando|Philadelphia|Phoenix|Pittsburgh|Portland|Queens|Raleigh|Sacramento|"
    "Salt Lake City|San Antonio|San Diego|San Francisco|San Jose|Seattle|St\\. Louis|"
    "Saint Louis|Tampa|Tucson|Tulsa|the Bronx|Albuquerque|Anchorage|Birmingham|Boise|"
    "Des Moines|Little Rock|Richmond|Spokane|Wichita"
)
LIFE_FACT_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "age": _rx(
        [
            r"\b(?:i am|i'm|im)\s+(?:now\s+|just\s+|almost\s+|about\s+|nearly\s+|turning\s+)?\d{1,3}\b",
            r"\b\d{1,3}[- ]years?[- ]old\b",
            r"\bin my (?:early |mid[- ]?|late )?(?:teens|twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|[2-9]0s)\b",
            r"\bborn (?:in |on )?(?:\w+ )?(?:1[89]\d\d|20[0-2]\d)\b",
            r"\b(?:i am|i'm) (?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)\b",
            r"\bwhen i was (?:\d{1,2}|[a-z]+teen|ten|eleven|twelve|nine|eight|seven|six|five|four)\b",
            r"\b(?:at|since) (?:age )?(?:\d{1,2}|[a-z]+teen)\b",
        ]
    ),
    "place": (
        *_rx(
            [
                r"\bgrew up\b",
                r"\bborn (?:and raised )?(?:in|on)\b",
                r"\braised (?:in|on|near|outside)\b",
                r"\b(?:live|living|lived|settled|stationed|moved) (?:in|to|near|outside|here|there|out|back|down|up|from)\b",
                r"\b(?:hometown|home town|small town|neighborhood|suburbs?|reservation|countryside|trailer park)\b",
                r"\b(?:on|near) (?:a|the|our|my) (?:farm|ranch|reservation|base)\b",
            ]
        ),
        re.compile(rf"\b(?:{_US_STATES}|{_US_CITIES})\b"),
    ),
    "family": _rx(
        [
            r"\b(?:mother|mom|mum|mama|momma|father|dad|daddy|papa|parents?|wife|husband|"
            r"sons?|daughters?|kids?|children|child|brothers?|sisters?|siblings?|"
            r"grand(?:mother|father|ma|pa|parents?|kids?|children|sons?|daughters?|babies)|"
            r"aunts?|uncles?|cousins?|nieces?|nephews?|step(?:son|daughter|dad|mom|father|mother|kids?)|"
            r"fianc[eé]e?|boyfriend|girlfriend|partner|spouse|twins?|baby|babies)\b",
            r"\b(?:married|divorced|widow(?:ed|er)?|engaged|single mom|single dad)\b",
        ]
    ),
    "school": _rx(
        [
            r"\b(?:school|college|university|degree|graduated?|graduating|diploma|ged|"
            r"bachelor'?s?|master'?s|phd|seminary|academy|semester|major(?:ed)? in|"
            r"studied|studying|dropped out|scholarship|kindergarten|grade)\b",
        ]
    ),
    "work": _rx(
        [
            r"\b(?:job|jobs|career|retired|retirement|employer|boss|coworkers?|shifts?|"
            r"paycheck|for a living|laid off|unemployed|self-employed|union|business|"
            r"company|plant|factory|firm|office|clinic|hospital|store|shop|salon|farm|ranch|"
            r"army|navy|marines|air force|coast guard|military|served|veteran|deployed)\b",
            r"\b(?:work|worked|working|works) (?:as|at|for|in|on|nights|days)\b",
            r"\b(?:nurse|teacher|engineer|mechanic|farmer|rancher|driver|trucker|electrician|"
            r"plumber|carpenter|welder|lawyer|attorney|doctor|pharmacist|accountant|"
            r"manager|supervisor|cashier|server|waitress|waiter|bartender|pastor|preacher|"
            r"minister|firefighter|officer|cop|soldier|programmer|developer|designer|"
            r"hairdresser|custodian|janitor|cook|chef|clerk|teller|fisherman|miner|"
            r"counselor|social worker|professor|technician|assistant|instructor|"
            r"steward|contractor|realtor|hygienist|aide|secretary)s?\b",
        ]
    ),
}


def _prompt_texts() -> tuple[str, ...]:
    return (
        qa_turn(BACKSTORY_QUESTION_SHORT),
        qa_turn(BACKSTORY_QUESTION_LONG),
        qa_turn(CITIZEN_QUESTION),
        *(qa_turn(q) for q in INTERVIEW_QUESTIONS),
        # the usual follow-ups a small model invents when it continues the prompt
        "What do you do for a living? Are you married? Do you have children? "
        "What are your hobbies? Where do you live? What is your name?",
    )


@lru_cache(maxsize=1)
def _prompt_trigrams() -> frozenset[tuple[str, str, str]]:
    grams: set[tuple[str, str, str]] = set()
    for t in _prompt_texts():
        w = words_of(t)
        grams.update(zip(w, w[1:], w[2:], strict=False))
    return frozenset(grams)


# ----------------------------------------------------------------- features


def _ngram_repeat_share(words: list[str], n: int) -> float:
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def _mattr(words: list[str], window: int = 50) -> float:
    """Moving-average type/token ratio (plain TTR for texts shorter than ``window``)."""
    if not words:
        return 0.0
    if len(words) <= window:
        return len(set(words)) / len(words)
    counts = Counter(words[:window])
    total = len(counts)
    for i in range(window, len(words)):
        counts[words[i]] += 1
        old = words[i - window]
        counts[old] -= 1
        if counts[old] == 0:
            del counts[old]
        total += len(counts)
    return total / ((len(words) - window + 1) * window)


def _max_content_run(words: list[str]) -> int:
    """Longest run of consecutive tokens that are not function words (a list of words)."""
    best = run = 0
    for w in words:
        run = 0 if _is_function(w) else run + 1
        best = max(best, run)
    return best


def _lines(text: str) -> list[str]:
    parts = re.split(r"\n|\s/\s", text)
    return [p.strip() for p in parts if re.search(r"[^\W\d_]", p)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_SPLIT.split(text) if s.strip()]


def _name_tokens(text: str) -> int:
    """Capitalised words not at a sentence start (proper names); neutral for the word list."""
    n = 0
    for s in _sentences(_normalise(text)):
        toks = _WORD.findall(s)
        n += sum(1 for t in toks[1:] if t[:1].isupper() and t != "I" and not t.startswith("I'"))
    return n


def text_quality(text: str) -> dict[str, float]:
    """Measured features of a text, all floats (rates are shares in [0, 1]).

    Keys
    ----
    n_words, n_chars, n_letters, n_lines, n_sentences
        Sizes (word tokens are runs of letters with inner apostrophes).
    ascii_letter_share
        ASCII letters among all letters (1 for English, ~0 for Greek or Chinese).
    latin_letter_share
        Letters of the Latin blocks (ASCII, accented) among all letters.
    function_rate
        Share of tokens that are frequent English function words (~0.4-0.6 in prose).
    max_content_run
        Longest run of consecutive words that are not function words (sentences: ~2-6).
    foreign_function_rate
        Share of tokens that are function words of Spanish, French, German, ...
    known_share
        Share of non-name tokens that are listed English words or their inflections.
    first_person_rate, first_plural_rate, second_person_rate, third_person_rate, third_singular_rate
        Pronoun tokens per word.
    repeated_trigram_share, repeated_bigram_share
        1 - distinct/total word n-grams.
    repeated_sentence_share
        Share of sentences/lines (3+ words) that repeat an earlier one.
    type_token_ratio
        Moving-average type/token ratio over 50-word windows.
    question_share
        Share of sentences ending in a question mark.
    prompt_overlap
        Share of the text's word trigrams that occur in the study's prompts.
    short_line_share, mean_words_per_line
        Layout: share of lines with at most 8 words and no final . ! ? ; words per line.
    frame_hits, fiction_score, off_topic_hits
        Number of distinct frame-break patterns, weighted fiction markers and genre markers.
    life_fact_kinds
        How many kinds of concrete life fact (age, place, family, school, work) occur.
    max_stated_age
        The largest age the text claims ("I am N", "N years old"), 0 if none.

    Examples
    --------
    >>> q = text_quality("I'm 52 and I grew up in Texas. I work as a nurse.")
    >>> q["ascii_letter_share"], q["life_fact_kinds"]
    (1.0, 3.0)
    >>> text_quality("")["n_words"]
    0.0
    """
    norm = _normalise(text)
    words = words_of(norm)
    n = len(words)
    letters = [c for c in norm if c.isalpha()]
    n_letters = len(letters)
    ascii_letters = sum(1 for c in letters if c.isascii())
    latin_letters = sum(1 for c in letters if ord(c) < 0x250 or 0x1E00 <= ord(c) < 0x1F00)

    lines = _lines(norm)
    sentences = _sentences(norm)
    names = _name_tokens(norm)
    content = [w for w in words if len(w) > 1 or w in ("i", "a")]
    known = sum(1 for w in content if is_known_word(w))
    denominator = max(len(content) - names, 1)

    def rate(pred: frozenset[str]) -> float:
        return sum(1 for w in words if w in pred) / n if n else 0.0

    # repeated sentences / lines
    seen: set[tuple[str, ...]] = set()
    units = [tuple(words_of(s)) for s in sentences]
    units = [u for u in units if len(u) >= 3]
    repeated_units = 0
    for u in units:
        if u in seen:
            repeated_units += 1
        seen.add(u)

    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    prompt_grams = _prompt_trigrams()
    overlap = sum(1 for g in trigrams if g in prompt_grams) / len(trigrams) if trigrams else 0.0

    words_per_line = [len(words_of(line)) for line in lines]
    short_lines = sum(
        1
        for line, k in zip(lines, words_per_line, strict=True)
        if k <= 8 and not line.rstrip("\"')” ").endswith((".", "!", "?", "…"))
    )

    fiction = sum(w for p, w in FICTION_PATTERNS if p.search(norm))
    life_kinds = sum(1 for pats in LIFE_FACT_PATTERNS.values() if any(p.search(norm) for p in pats))
    ages = [
        int(a)
        for a in re.findall(
            r"\b(?:i am|i'm)\s+(?:now\s+)?(\d{1,4})(?=\s*(?:years?\b|[.,;!]|$|\s+and\b))",
            norm,
            flags=re.IGNORECASE,
        )
        + re.findall(r"\b(\d{1,4})[- ]years?[- ]old\b", norm, flags=re.IGNORECASE)
        + re.findall(r"\blived for (\d{3,4}) years\b", norm, flags=re.IGNORECASE)
    ]
    if re.search(
        r"\blived for (?:(?:two|three|four|five|six|seven|eight|nine) )?(?:hundred|thousand)s? (?:of )?years\b",
        norm,
        re.IGNORECASE,
    ):
        ages.append(200)

    return {
        "n_words": float(n),
        "n_chars": float(len(text)),
        "n_letters": float(n_letters),
        "n_lines": float(len(lines)),
        "n_sentences": float(len(sentences)),
        "ascii_letter_share": ascii_letters / n_letters if n_letters else 0.0,
        "latin_letter_share": latin_letters / n_letters if n_letters else 0.0,
        "function_rate": sum(1 for w in words if _is_function(w)) / n if n else 0.0,
        "max_content_run": float(_max_content_run(words)),
        "foreign_function_rate": (
            sum(1 for w in words if w in FOREIGN_FUNCTION_WORDS or _FOREIGN_ELISION.match(w)) / n
            if n
            else 0.0
        ),
        "known_share": min(known / denominator, 1.0) if content else 0.0,
        "first_person_rate": rate(_FIRST),
        "first_plural_rate": rate(_FIRST_PLURAL),
        "second_person_rate": rate(_SECOND),
        "third_person_rate": rate(_THIRD),
        "third_singular_rate": rate(_THIRD_SINGULAR),
        "repeated_trigram_share": _ngram_repeat_share(words, 3),
        "repeated_bigram_share": _ngram_repeat_share(words, 2),
        "repeated_sentence_share": repeated_units / len(units) if units else 0.0,
        "type_token_ratio": _mattr(words),
        "question_share": (
            sum(1 for s in sentences if s.rstrip("\"')” ").endswith("?")) / len(sentences)
            if sentences
            else 0.0
        ),
        "prompt_overlap": overlap,
        "short_line_share": short_lines / len(lines) if lines else 0.0,
        "mean_words_per_line": sum(words_per_line) / len(lines) if lines else 0.0,
        "frame_hits": float(sum(1 for p in FRAME_PATTERNS if p.search(norm))),
        "fiction_score": float(fiction),
        "off_topic_hits": float(sum(1 for p in OFF_TOPIC_PATTERNS if p.search(norm))),
        "life_fact_kinds": float(life_kinds),
        "max_stated_age": float(max(ages, default=0)),
    }
