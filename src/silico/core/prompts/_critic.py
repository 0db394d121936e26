"""The critic: a prompt that judges a backstory (or one interview answer) and its verdict."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from silico.core.prompts._backstory import Turn, format_transcript
from silico.core.prompts._quality import FICTION_PATTERNS, FRAME_PATTERNS, text_quality

#: What the critic is asked to look for, one line each (also the reason vocabulary).
CRITERIA = (
    "contradicts an earlier statement (age, places, family, work, dates)",
    "is incoherent, repetitive or unfinished",
    "is not a first-person narrative by the speaker",
    "mentions being an interview, a survey, an AI, a blog post or a story prompt",
)

#: Reason codes of the model critic, in the order of :data:`CRITERIA`.
MODEL_REASON_CODES = ("contradiction", "incoherent", "not_first_person", "frame_break")

#: Every reason code a rejection can carry, with its meaning (the documented vocabulary).
#: The rule checks of :func:`check_backstory` use all but ``incoherent`` (model critic
#: only), ``other`` (an unclassified model reason) and ``model_reject`` (the pipeline's
#: logprob-scored critic model).
REASON_DESCRIPTIONS = {
    "contradiction": "contradicts itself or an earlier answer (stated ages)",
    "incoherent": "incoherent, repetitive or unfinished (model critic)",
    "not_first_person": "not told by the speaker: no or few first-person pronouns, "
    "mostly about someone else, or addressed to the reader",
    "frame_break": "assistant/AI voice or mentions the interview, survey, prompt or story frame",
    "too_short": "empty or only a couple of words",
    "not_english": "not English: another script or language (study language en)",
    "wrong_language": "not in the study language (study language other than en)",
    "gibberish": "few recognisable words, a bare word list or a function-word salad",
    "repetitive": "repeated sentences, repeated word 3-grams or a very low type/token ratio",
    "verse": "a poem or lyrics: many short lines without sentence punctuation",
    "prompt_copy": "repeats the prompt's questions or is mostly questions",
    "fiction": "fantasy or science-fiction markers, or an impossible age",
    "off_topic": "another genre: recipe, product copy, news, encyclopaedia or advice text",
    "no_life_fact": "no concrete life fact (age, place, family, schooling or work)",
    "other": "the model critic's reason fits no code",
    "model_reject": "the critic model preferred 'reject'",
}

#: Canonical reason codes: the model critic's (in the order of :data:`CRITERIA`),
#: then the rule checks' and pipeline's; see :data:`REASON_DESCRIPTIONS`.
REASON_CODES = MODEL_REASON_CODES + tuple(
    c for c in REASON_DESCRIPTIONS if c not in MODEL_REASON_CODES
)


@dataclass(frozen=True)
class Verdict:
    """A critic's judgement: accepted, or rejected with a reason code and its text."""

    accepted: bool
    reason: str = ""
    detail: str = ""
    #: The coherence score (mean token log-probability under the critic model)
    #: when it was measured, NaN otherwise; kept for the report's distributions.
    score: float = float("nan")


def critic_prompt(text: str, earlier: Sequence[Turn] = ()) -> str:
    """Ask the critic whether ``text`` is a consistent first-person account.

    Parameters
    ----------
    text : str
        The backstory, or the newest interview answer.
    earlier : sequence of Turn
        The interview transcript before ``text``; empty for single-turn backstories.

    The critic answers ``ACCEPT`` or ``REJECT: <reason>`` on the first line, which
    :func:`parse_verdict` reads.
    """
    criteria = "\n".join(f"- {c}" for c in CRITERIA)
    parts = [
        "You are checking life stories written by survey respondents for consistency.",
        "Reject the NEW TEXT if it:",
        criteria,
        "Otherwise accept it.",
    ]
    if earlier:
        parts.append("EARLIER ANSWERS:\n" + format_transcript(earlier))
    parts.append("NEW TEXT:\n" + text.strip())
    parts.append("Reply with ACCEPT, or REJECT: followed by the reason.\nVerdict:")
    return "\n\n".join(parts)


_REASON_PATTERNS = (
    ("contradiction", r"contradict|inconsisten|earlier|conflict|\bage\b|\bolder\b|\byounger\b"),
    ("frame_break", r"interview|survey|\bai\b|language model|blog|prompt|assistant"),
    ("not_first_person", r"first[- ]person|third[- ]person|narrat"),
    ("incoherent", r"incoheren|repetit|nonsens|unfinished|gibberish|unclear"),
)


def parse_verdict(text: str) -> Verdict | None:
    """Read a critic reply: ``ACCEPT`` or ``REJECT[: reason]``; ``None`` if it says neither.

    The first of the two keywords to appear decides. A rejection's reason is
    classified into one of :data:`REASON_CODES` (``"other"`` if none fits) and
    the critic's own words are kept as ``detail``.

    Examples
    --------
    >>> parse_verdict(" ACCEPT")
    Verdict(accepted=True, reason='', detail='', score=nan)
    >>> parse_verdict("REJECT: the age contradicts the earlier answer").reason
    'contradiction'
    >>> parse_verdict("I am not sure") is None
    True
    """
    m = re.search(r"\b(accept(?:ed)?|reject(?:ed)?)\b", text, flags=re.IGNORECASE)
    if m is None:
        return None
    if m.group(1).lower().startswith("accept"):
        return Verdict(True)
    detail = text[m.end() :].lstrip(" :.-\n").split("\n")[0].strip()
    low = detail.lower()
    for code, pattern in _REASON_PATTERNS:
        if re.search(pattern, low):
            return Verdict(False, code, detail)
    return Verdict(False, "other", detail)


# ----------------------------------------------------------------- rule checks
#
# Thresholds. Each was set by measuring the features of ``text_quality`` on the
# labelled set tests/unit/data/critic_labelled.jsonl (66 good life stories, 74
# bad texts in 11 categories) and placing the cut with margin on both sides:
# "good" below is the range over the good stories, "bad" the nearest bad values.

#: Fewer word tokens than this is ``too_short``.
MIN_WORDS = 3
#: Shares and rates of short texts are noisy: the language/word-list rules need this
#: many words, and the per-word rate rules (function words, person, type/token) need
#: :data:`RATE_MIN_WORDS`, so a terse interview answer is not rejected on statistics.
LANGUAGE_MIN_WORDS = 5
RATE_MIN_WORDS = 20
#: Letters needed before the script share is judged.
SCRIPT_MIN_LETTERS = 10
#: ASCII letters among all letters, for English. Good >= 0.997; Greek, Cyrillic and
#: Chinese 0.0 (accented Latin-script languages 0.95-0.99 are left to the word rules).
MIN_ASCII_LETTER_SHARE = 0.90
#: Latin-script letters among all letters, for other Latin-script study languages.
MIN_LATIN_LETTER_SHARE = 0.90
#: Function words of Spanish/French/German/... per word. Good <= 0.024; other
#: languages and pseudo-Spanish >= 0.219.
MAX_FOREIGN_FUNCTION_RATE = 0.10
#: Share of non-name tokens in the English word list (or inflections). Good >= 0.919;
#: other languages <= 0.231, pseudo-words <= 0.278.
MIN_KNOWN_SHARE = 0.60
#: English function words per word. Good 0.448-0.645; other languages <= 0.188 and
#: word lists 0.0 (below); a function-word salad 0.789 (above).
MIN_FUNCTION_RATE = 0.25
MAX_FUNCTION_RATE = 0.75
#: Longest run of words without a function word. Good <= 6 (names, "retired electrical
#: engineer"); word lists and keyword tags 17-20, pseudo-words and markup 12-36.
MAX_CONTENT_RUN = 12
#: Repeated word 3-grams (1 - distinct/total). Good <= 0.016; loops >= 0.5.
MAX_REPEATED_TRIGRAM_SHARE = 0.20
#: Sentences repeating an earlier one. Good 0.0; loops 0.25-0.875.
MAX_REPEATED_SENTENCE_SHARE = 0.20
#: Moving-average type/token ratio (50-word windows). Good >= 0.667; loops <= 0.32,
#: prompt echoes 0.35.
MIN_TYPE_TOKEN_RATIO = 0.45
#: Prompt copies: share of trigrams found in the study's prompts (good <= 0.029, copies
#: >= 0.73), or share of sentences that are questions (good 0.0, copies >= 0.5) when
#: there are at least :data:`MIN_QUESTIONS` questions.
MAX_PROMPT_OVERLAP = 0.30
MAX_QUESTION_SHARE = 0.50
MIN_QUESTIONS = 2
#: Verse: at least this many lines, mostly short (<= 8 words) and unpunctuated.
#: Good stories are 1 line (paragraphs); verse 6-9 lines with short share 0.5-1.0
#: and 3-9 words per line.
VERSE_MIN_LINES = 4
VERSE_MIN_SHORT_LINE_SHARE = 0.50
VERSE_MAX_WORDS_PER_LINE = 10.0
#: Weighted fiction markers (2 = decisive, e.g. "wizard"; 1 = needs company, e.g.
#: "dragons", "magic"). Good <= 1 ("Dungeons and Dragons"); fiction >= 2.
MAX_FICTION_SCORE = 1
#: A stated age above this is fiction (good <= 88; "I am now 300 years old").
MAX_PLAUSIBLE_AGE = 115
#: Distinct genre markers (recipe, product, news, encyclopaedia, advice). Good 0;
#: off-topic texts 1-5 (the rest fail the person or life-fact rules).
MAX_OFF_TOPIC_HITS = 1
#: First-person singular pronouns per word. Good >= 0.074; third-person stories
#: <= 0.016, off-topic texts <= 0.04.
MIN_FIRST_PERSON_RATE = 0.035
#: Third-person singular pronouns may outnumber first-person ones by at most this
#: factor (a story about one's grandmother: 1.0; third-person stories: no "I" at all).
MAX_THIRD_TO_FIRST = 2.0
#: Second-person pronouns per word above which a text that says "you" more than "I"
#: addresses the reader (good <= 0.03; advice and prompt echoes 0.056-0.24).
MAX_SECOND_PERSON_RATE = 0.04
#: Kinds of concrete life fact (age, place, family, school, work) required. Good 3-5;
#: generic "I am a person who loves to learn" texts 0.
MIN_LIFE_FACT_KINDS = 1


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def check_backstory(
    text: str,
    *,
    language: str = "en",
    allow_fiction: bool = False,
    require_life_fact: bool = True,
    min_first_person: float = MIN_FIRST_PERSON_RATE,
) -> Verdict:
    """A rule-based critic for a single backstory (no model, no earlier turns).

    Checks, in order: empty/too short; script; assistant frame breaks; prompt
    copies; language and recognisable words; repetition; verse; fiction;
    off-topic genres; first-person narration; a concrete life fact. The first
    failing rule decides, as ``Verdict(False, reason, detail)`` with a code of
    :data:`REASON_DESCRIPTIONS` and the measured value in ``detail``. The features
    come from :func:`silico.core.prompts.text_quality`; thresholds are this
    module's constants.

    Parameters
    ----------
    text : str
        The backstory (or one interview answer).
    language : str
        The study language. ``"en"`` runs every rule. For another language only
        the language-independent rules run (script share for Latin-script
        languages, frame breaks, prompt copies, repetition, verse) plus a check
        that the text is not English (``wrong_language``).
    allow_fiction : bool
        Skip the fiction rule.
    require_life_fact : bool
        Require at least one concrete life fact (off for single interview answers).
    min_first_person : float
        Minimum first-person pronouns per word for texts of
        :data:`RATE_MIN_WORDS` or more words; ``0`` relaxes the person rule to
        "at least one first-person pronoun in 30 words" (interview answers, which
        may be about a friend or about politics, and may use a generic "you").

    Examples
    --------
    >>> check_backstory("I'm 41, I grew up in Ohio and I work as a nurse in Dayton.").accepted
    True
    >>> check_backstory("Esteamos. ¡Mineamos, estos pobres basta… lo que hay pare no es de").reason
    'not_english'
    >>> check_backstory("   ").reason
    'too_short'
    """
    q = text_quality(text)
    english = language.lower().split("-")[0] == "en"
    n = q["n_words"]
    if not text.strip():
        return Verdict(False, "too_short", "empty text")
    enough_letters = q["n_letters"] >= SCRIPT_MIN_LETTERS
    if english and enough_letters and q["ascii_letter_share"] < MIN_ASCII_LETTER_SHARE:
        return Verdict(
            False,
            "not_english",
            f"{_pct(1 - q['ascii_letter_share'])} of letters are not English (other script)",
        )
    if (
        not english
        and enough_letters
        and language.lower().split("-")[0] in _LATIN_SCRIPT_LANGUAGES
        and q["latin_letter_share"] < MIN_LATIN_LETTER_SHARE
    ):
        return Verdict(
            False,
            "wrong_language",
            f"{_pct(1 - q['latin_letter_share'])} of letters are not Latin script",
        )
    if n < MIN_WORDS:
        if n == 0 and q["n_letters"] == 0:
            return Verdict(False, "gibberish", "no words")
        return Verdict(False, "too_short", f"{n:.0f} words")

    if q["frame_hits"] > 0:
        return Verdict(False, "frame_break", _first_match(text, FRAME_PATTERNS))
    if q["prompt_overlap"] > MAX_PROMPT_OVERLAP:
        return Verdict(
            False, "prompt_copy", f"{_pct(q['prompt_overlap'])} of word 3-grams are the prompt's"
        )
    n_questions = round(q["question_share"] * q["n_sentences"])
    if q["question_share"] >= MAX_QUESTION_SHARE and n_questions >= MIN_QUESTIONS:
        return Verdict(
            False, "prompt_copy", f"{n_questions} of {q['n_sentences']:.0f} sentences are questions"
        )

    if english and n >= LANGUAGE_MIN_WORDS:
        if q["foreign_function_rate"] > MAX_FOREIGN_FUNCTION_RATE:
            return Verdict(
                False,
                "not_english",
                f"{_pct(q['foreign_function_rate'])} of words are Spanish/French/German/... "
                "function words",
            )
        if q["known_share"] < MIN_KNOWN_SHARE:
            reason = "not_english" if q["ascii_letter_share"] < 0.99 else "gibberish"
            return Verdict(
                False, reason, f"only {_pct(q['known_share'])} of words are recognisable English"
            )
        if q["max_content_run"] > MAX_CONTENT_RUN:
            return Verdict(
                False,
                "gibberish",
                f"{q['max_content_run']:.0f} words in a row without a function word: a word list",
            )
    if english and n >= RATE_MIN_WORDS:
        if q["function_rate"] < MIN_FUNCTION_RATE:
            return Verdict(
                False,
                "gibberish",
                f"only {_pct(q['function_rate'])} function words: a list of words, not sentences",
            )
        if q["function_rate"] > MAX_FUNCTION_RATE:
            return Verdict(
                False,
                "gibberish",
                f"{_pct(q['function_rate'])} function words: no content",
            )
    if not english and n >= RATE_MIN_WORDS and _looks_english(q):
        return Verdict(False, "wrong_language", f"reads as English, study language {language!r}")

    if q["repeated_trigram_share"] > MAX_REPEATED_TRIGRAM_SHARE:
        return Verdict(
            False, "repetitive", f"{_pct(q['repeated_trigram_share'])} of word 3-grams repeat"
        )
    if q["repeated_sentence_share"] > MAX_REPEATED_SENTENCE_SHARE:
        return Verdict(
            False, "repetitive", f"{_pct(q['repeated_sentence_share'])} of sentences repeat"
        )
    if n >= RATE_MIN_WORDS and q["type_token_ratio"] < MIN_TYPE_TOKEN_RATIO:
        return Verdict(False, "repetitive", f"type/token ratio {q['type_token_ratio']:.2f}")

    if (
        q["n_lines"] >= VERSE_MIN_LINES
        and q["short_line_share"] >= VERSE_MIN_SHORT_LINE_SHARE
        and q["mean_words_per_line"] <= VERSE_MAX_WORDS_PER_LINE
    ):
        return Verdict(
            False,
            "verse",
            f"{q['n_lines']:.0f} lines of {q['mean_words_per_line']:.1f} words, "
            f"{_pct(q['short_line_share'])} short and unpunctuated",
        )
    if not english:
        return Verdict(True)

    if not allow_fiction:
        if q["max_stated_age"] > MAX_PLAUSIBLE_AGE:
            return Verdict(False, "fiction", f"states an age of {q['max_stated_age']:.0f}")
        if q["fiction_score"] > MAX_FICTION_SCORE:
            return Verdict(False, "fiction", "fiction markers: " + _fiction_markers(text))
    if q["off_topic_hits"] > MAX_OFF_TOPIC_HITS:
        return Verdict(
            False, "off_topic", f"{q['off_topic_hits']:.0f} recipe/product/news/advice markers"
        )

    first = q["first_person_rate"]
    if min_first_person > 0 and n >= RATE_MIN_WORDS:
        if first < min_first_person:
            return Verdict(
                False,
                "not_first_person",
                f"first-person pronouns {_pct(first)} of words (< {_pct(min_first_person)})",
            )
        if q["third_singular_rate"] > MAX_THIRD_TO_FIRST * first:
            return Verdict(False, "not_first_person", "mostly he/she: about someone else")
        if q["second_person_rate"] > max(first, MAX_SECOND_PERSON_RATE):
            return Verdict(
                False, "not_first_person", "addressed to the reader (more 'you' than 'I')"
            )
    elif n >= 30 and first == 0 and q["first_plural_rate"] == 0:
        return Verdict(False, "not_first_person", "no first-person pronouns")

    if require_life_fact and q["life_fact_kinds"] < MIN_LIFE_FACT_KINDS:
        return Verdict(
            False, "no_life_fact", "no age, place, family, schooling or work is mentioned"
        )
    return Verdict(True)


_LATIN_SCRIPT_LANGUAGES = frozenset(
    "en es fr de it pt nl ca ro pl cs sk sl hr sv da no nb nn fi et lv lt hu tr id ms "
    "tl vi sq eu gl ga cy is mt af sw".split()
)


def _looks_english(q: dict[str, float]) -> bool:
    return q["known_share"] >= 0.85 and q["function_rate"] >= 0.35


def _first_match(text: str, patterns: Sequence[re.Pattern[str]]) -> str:
    for p in patterns:
        m = p.search(text.replace("\u2019", "'"))
        if m:
            return f"says {m.group(0)!r}"
    return ""


def _fiction_markers(text: str) -> str:
    found = []
    for p, _w in FICTION_PATTERNS:
        m = p.search(text)
        if m:
            found.append(m.group(0))
    return ", ".join(repr(f) for f in found[:5])


def check_consistency(
    text: str,
    earlier: Sequence[Turn] = (),
    *,
    language: str = "en",
    allow_fiction: bool = False,
    require_life_fact: bool | None = None,
    interview: bool | None = None,
) -> Verdict:
    """A rule-based critic for what rules can catch: stated ages that disagree
    (with each other or with earlier answers), then every rule of
    :func:`check_backstory`.

    It runs before (and independently of) the language-model critic, so the
    plainest failures are caught even by a small model. With ``earlier`` turns
    (an interview answer) a life fact is not required and the person rule is
    relaxed; a single backstory (no earlier turns) gets the full checks.
    ``require_life_fact`` overrides the first of these; ``interview=True`` marks
    an interview answer that has no earlier turns (the first question's).

    >>> check_consistency("I am 34 years old.", [Turn("Q", "I'm 52 years old.")]).reason
    'contradiction'
    >>> check_consistency("I grew up in Ohio and I love my dog.").accepted
    True
    """
    ages_now = _stated_ages(text)
    ages_before = {a for t in earlier for a in _stated_ages(t.answer)}
    if ages_now and ages_before and not (ages_now & ages_before):
        return Verdict(
            False,
            "contradiction",
            f"states age {sorted(ages_now)} but earlier {sorted(ages_before)}",
        )
    if len(ages_now) > 1:
        return Verdict(False, "contradiction", f"states several ages {sorted(ages_now)}")
    if interview is None:
        interview = bool(earlier)
    return check_backstory(
        text,
        language=language,
        allow_fiction=allow_fiction,
        require_life_fact=(not interview) if require_life_fact is None else require_life_fact,
        min_first_person=0.0 if interview else MIN_FIRST_PERSON_RATE,
    )


def _stated_ages(text: str) -> set[int]:
    # Present tense only: "when I was 12 years old" is a memory, not a claim of age.
    present = r"\b(?:i am|i'm)\s+(?:now\s+)?"
    found = re.findall(
        present + r"(\d{1,3})(?=\s*(?:years?\b|yrs?\b|[.,;!]|$|\s+and\b))",
        text,
        flags=re.IGNORECASE,
    )
    found += re.findall(present + r"an?\s+(\d{1,3})[- ]year[- ]old\b", text, flags=re.IGNORECASE)
    return {int(a) for a in found if 0 < int(a) < 120}
