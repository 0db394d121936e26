"""One function per stage, around the pure core: prompts in, parsed results out.

A stage talks to a model only through the :class:`LanguageModel` protocol
(the completions client implements it), so the same functions serve the
in-process runner and the stage services.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from silico.core.errors import ValidationError
from silico.core.extraction import OptionScores, parse_text_answer, sampled_distribution
from silico.core.prompts import (
    BACKSTORY_QUESTION_LONG,
    BACKSTORY_QUESTION_SHORT,
    BACKSTORY_STOP,
    CITIZEN_QUESTION,
    INTERVIEW_QUESTIONS,
    LETTERS,
    Item,
    Turn,
    Verdict,
    accepts_citizen_answer,
    backstory_prompt,
    check_consistency,
    citizen_prompt,
    clean_backstory,
    critic_prompt,
    demographic_item,
    format_transcript,
    interview_prompt,
    present,
    reversed_order,
    series_context,
    series_turn,
    survey_prompt,
)
from silico.core.sampling import derive_seed
from silico.core.traits import Trait
from silico.llm import Generation

Progress = Callable[[int], None]


class LanguageModel(Protocol):
    """What a stage needs from a model (see :class:`silico.llm.CompletionsClient`)."""

    def generate(
        self,
        prompts: Sequence[str],
        max_tokens: int = ...,
        temperature: float = ...,
        top_p: float = ...,
        stop: Sequence[str] = ...,
        seed: int | Sequence[int] | None = ...,
        stage: str = ...,
        repetition_penalty: float = ...,
    ) -> list[Generation]: ...

    def score_options(
        self, prompts: Sequence[str], n_options: Sequence[int] | int, stage: str = ...
    ) -> list[OptionScores]: ...

    def text_logprob(
        self, contexts: Sequence[str], texts: Sequence[str], stage: str = ...
    ) -> list[float]: ...


def chatml(question: str) -> str:
    """A user turn in the ChatML format of instruct models (SmolLM2, Qwen)."""
    return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"


CHATML_STOP = ("<|im_end|>", "<|im_start|>")


@dataclass(frozen=True)
class Backstory:
    """A persona's backstory, content-addressed by text, model and sampling settings."""

    id: str
    text: str
    seed: int
    #: Tokens the model generated for it (all answers of an interview).
    generated_tokens: int
    attempts: int
    accepted: bool
    reason: str = ""
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)
    #: The texts of the attempts the critic rejected, in order (single-turn only),
    #: for the report's accepted-vs-rejected examples; never used as a persona.
    rejected_texts: tuple[str, ...] = ()


def backstory_id(text: str, model: str, params: dict[str, object], seed: int) -> str:
    blob = repr((text, model, sorted(params.items()), seed)).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _single_turn_prompt(variant: str, fmt: str, preamble: str | None) -> str:
    """The reference backstory question, word for word, after the citizen preamble
    turn when there is one (as a chat turn for an instruct model)."""
    if fmt == "chatml":
        q = BACKSTORY_QUESTION_SHORT if variant == "short" else BACKSTORY_QUESTION_LONG
        head = f"{chatml(CITIZEN_QUESTION)}{preamble}<|im_end|>\n" if preamble is not None else ""
        return head + chatml(q)
    return backstory_prompt(variant, preamble)


@dataclass(frozen=True)
class CriticSettings:
    """How the critic judges a backstory or an interview answer.

    The rule checks always run (:func:`~silico.core.prompts.check_consistency`).
    ``min_coherence`` adds the coherence score: the text's mean token
    log-probability under the critic model after the backstory question; a
    text the model itself finds improbable (noise, another language, broken
    syntax) scores low. ``use_model`` adds the model's own accept/reject
    verdict, worth asking only of a strong model.
    """

    enabled: bool = True
    use_model: bool = False
    min_coherence: float | None = None
    allow_fiction: bool = False
    language: str = "en"


#: What the coherence score conditions on: the question a backstory answers.
COHERENCE_CONTEXT = f"Question: {BACKSTORY_QUESTION_LONG}\n\nAnswer: "


def coherence(lm: LanguageModel, text: str) -> float:
    """Mean token log-probability of ``text`` as an answer to the backstory question."""
    return float(lm.text_logprob([COHERENCE_CONTEXT], [text.strip()], stage="critic")[0])


def critic_verdict(
    lm: LanguageModel | None,
    text: str,
    earlier: Sequence[Turn] = (),
    settings: CriticSettings | None = None,
    interview: bool | None = None,
) -> Verdict:
    """Rule checks first; then the coherence score and the model's verdict, as asked.

    Without ``settings`` the model's verdict is asked whenever a model is given
    (the behaviour before the settings existed). The model is asked to choose
    (A) accept or (B) reject, and scored from logprobs (one token), which a
    small model does far more reliably than writing a free-text verdict.
    """
    st = settings or CriticSettings(use_model=lm is not None)
    rules = check_consistency(
        text, earlier, language=st.language, allow_fiction=st.allow_fiction, interview=interview
    )
    if not rules.accepted or lm is None:
        return rules
    score = float("nan")
    if st.min_coherence is not None:
        score = coherence(lm, text)
        if not score >= st.min_coherence:
            return Verdict(
                False,
                "incoherent",
                f"mean token log-probability {score:.2f} < {st.min_coherence:g}",
                score,
            )
    if st.use_model:
        prompt = critic_prompt(text, earlier).removesuffix("Verdict:").rstrip()
        item = Item("critic", "Is the NEW TEXT acceptable?", ("Accept", "Reject"))
        scores = lm.score_options([survey_prompt(prompt, present(item))], 2, stage="critic")[0]
        if scores.probs[1] > scores.probs[0]:
            return Verdict(
                False, "model_reject", f"critic model P(reject)={scores.probs[1]:.2f}", score
            )
    return Verdict(True, score=score)


def judge_candidate(
    critic: LanguageModel | None,
    text: str,
    generated_tokens: int,
    min_tokens: int,
    settings: CriticSettings,
) -> Verdict:
    """A sampled backstory's verdict: too short, else the critic's (rules, coherence, model).

    An empty or whitespace text is too short whatever the token count says.
    """
    if generated_tokens <= min_tokens or len(text.split()) < 10:
        return Verdict(False, "too_short", f"{generated_tokens} tokens")
    if settings.enabled:
        return critic_verdict(critic, text, (), settings)
    return Verdict(True)


def backstory_prompt_for(
    variant: str, prompt_format: str, preamble: str | None = None
) -> tuple[str, list[str]]:
    """The single-turn prompt and its stop sequences."""
    stop = list(CHATML_STOP) if prompt_format == "chatml" else list(BACKSTORY_STOP)
    return _single_turn_prompt(variant, prompt_format, preamble), stop


def _citizen_answers(
    lm: LanguageModel, seeds: Sequence[int], fmt: str = "plain", tries: int = 5
) -> list[str]:
    """The preamble turn per persona: "Are you a US citizen?" re-sampled until the answer
    says yes (the reference's procedure); "Yes." after ``tries`` refusals. Each round
    asks all personas still without a yes at once (one batch on the server); persona
    ``i``'s try ``t`` uses the seed ``derive_seed(seeds[i], "citizen", t)`` however
    the personas are batched."""
    prompt = chatml(CITIZEN_QUESTION) if fmt == "chatml" else citizen_prompt()
    answers: list[str | None] = [None] * len(seeds)
    todo = list(range(len(seeds)))
    for t in range(tries):
        if not todo:
            break
        gens = lm.generate(
            [prompt] * len(todo),
            max_tokens=16,
            temperature=1.0,
            stop=["\n", "Question", *CHATML_STOP],
            seed=[derive_seed(seeds[i], "citizen", t) for i in todo],
            stage="backstory",
        )
        still = []
        for i, g in zip(todo, gens, strict=True):
            if accepts_citizen_answer(g.text):
                answers[i] = g.text.strip()
            else:
                still.append(i)
        todo = still
    return [a if a is not None else "Yes." for a in answers]


def interview_backstory(
    lm: LanguageModel,
    *,
    seed: int,
    index: int,
    model_name: str,
    prompt_format: str = "plain",
    max_tokens: int = 256,
    temperature: float = 1.0,
    top_p: float = 1.0,
    critic: LanguageModel | None = None,
    max_attempts: int = 3,
    questions: Sequence[str] = INTERVIEW_QUESTIONS,
    repetition_penalty: float = 1.0,
    critic_settings: CriticSettings | None = None,
) -> Backstory:
    """The life-history interview: each answer conditioned on the transcript so far and
    reviewed against it; a rejected answer is re-sampled up to ``max_attempts`` times."""
    turns: list[Turn] = []
    verdicts: list[Verdict] = []
    tokens = 0
    accepted = True
    stop = list(CHATML_STOP) if prompt_format == "chatml" else ["Question:", "\nQ:"]
    for q_index, q in enumerate(questions):
        answer, ok = "", False
        for attempt in range(max_attempts):
            s = derive_seed(seed, "interview", index, q_index, attempt)
            if prompt_format == "chatml":
                history = "".join(
                    f"<|im_start|>user\n{t.question}<|im_end|>\n<|im_start|>assistant\n{t.answer}<|im_end|>\n"
                    for t in turns
                )
                prompt = history + chatml(q)
            else:
                prompt = interview_prompt(turns, q)
            g = lm.generate(
                [prompt],
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=stop,
                seed=s,
                stage="backstory",
                **_penalty(repetition_penalty),
            )[0]
            answer = clean_backstory(g.text, stop)
            tokens += g.completion_tokens
            v = (
                Verdict(False, "too_short", "empty answer")
                if len(answer.split()) < 3
                else critic_verdict(critic, answer, turns, critic_settings, interview=True)
            )
            verdicts.append(v)
            if v.accepted:
                ok = True
                break
        accepted = accepted and ok
        turns.append(Turn(q, answer))
    text = format_transcript(turns)
    s0 = derive_seed(seed, "interview", index)
    params = {
        "mode": "interview",
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "format": prompt_format,
        **_penalty(repetition_penalty),
    }
    reason = "" if accepted else next((v.reason for v in reversed(verdicts) if not v.accepted), "")
    return Backstory(
        backstory_id(text, model_name, params, s0),
        text,
        s0,
        tokens,
        len(verdicts),
        accepted,
        reason,
        tuple(verdicts),
    )


@dataclass(frozen=True)
class Scored:
    """Option distributions of several contexts on several items.

    ``probs[c, j, :K_j]`` is context ``c``'s distribution over item ``j``'s
    options in canonical order (averaged over the compliant option orders);
    NaN when the answer is non-compliant, so it is missing downstream, never
    a made-up answer. ``compliance[c, j]`` is the mass that fell on option
    letters (logprob) or the share of compliant samples (sampled);
    ``attempts[c, j]`` the completions sampled (sampled mode; 0 in logprob mode).
    """

    probs: np.ndarray
    compliance: np.ndarray
    attempts: np.ndarray | None = None


def stored_answers(sc: Scored, items: Sequence[Item], c: int = 0) -> list[list[float]]:
    """Context ``c``'s distributions as a survey unit stores them: one list per item,
    empty for a dropped (non-compliant) answer."""
    return [
        p.tolist() if np.isfinite(p).all() else []
        for p in (sc.probs[c, j, : it.k] for j, it in enumerate(items))
    ]


def _presentation(it: Item, order: str) -> Any:
    return present(it, reversed_order(it.k) if order == "reversed" else None)


ORDER_POLICIES = ("seeded", "all")


def orders_shown(
    it: Item, orders: Sequence[str], policy: str, key: tuple[object, ...]
) -> Sequence[str]:
    """The orders ``it`` is scored in for one context: all of them, or (``seeded``) one
    drawn from the context's seed key, the one a sampled answer's first sample shows."""
    if policy == "all" or len(orders) == 1:
        return orders
    if policy != "seeded":
        raise ValidationError("order_policy", f"must be one of {list(ORDER_POLICIES)}")
    return (orders[derive_seed(*key, it.id, 0, "order") % len(orders)],)


def _logprob_prompts(ctx: str, it: Item, orders: Sequence[str]) -> tuple[list[str], list[Any]]:
    # The prompt ends in "Answer: (", the form the instruction asks for, so the
    # next token is the letter. Ending at "Answer:" left an instruct model's mass
    # mostly on ending its turn (SmolLM2 after a framed backstory: 0.03 on letters,
    # 0.96 after the parenthesis, measured on 32 prompts); it also reads "A lot"
    # as an option, never as the letter A, and needs no follow-up request for a
    # bare "(".
    pres = [_presentation(it, o) for o in orders]
    return [survey_prompt(ctx, p, open_paren=True) for p in pres], pres


def _combine_orders(
    scores: Sequence[OptionScores], pres: Sequence[Any], k: int, min_compliance: float
) -> tuple[np.ndarray, float]:
    """Average the canonical distributions of the orders whose letter mass passes the
    threshold; an order with no letter mass at all never counts (it is no answer)."""
    used = [
        np.asarray(p.to_canonical(s.probs))
        for s, p in zip(scores, pres, strict=True)
        if s.compliance > 0 and s.compliance >= min_compliance
    ]
    comp = float(np.mean([s.compliance for s in scores]))
    if not used:
        return np.full(k, np.nan), comp
    return np.mean(used, axis=0), comp


def _sample_answer(
    lm: LanguageModel,
    ctx: str,
    it: Item,
    orders: Sequence[str],
    seed_keys: tuple[object, ...],
    max_attempts: int,
    stage: str,
) -> tuple[int | None, int, Any]:
    """The official sampled answer: a seeded choice of option order, sampled completions
    parsed, re-sampled while non-compliant up to ``max_attempts``. Returns the canonical
    choice (None: dropped), the completions used and the presentation shown."""
    o = orders[derive_seed(*seed_keys, "order") % len(orders)]
    p = _presentation(it, o)
    for a in range(max_attempts):
        g = lm.generate(
            [survey_prompt(ctx, p)],
            max_tokens=16,
            temperature=1.0,
            stop=["\n", "Question:"],
            seed=derive_seed(*seed_keys, a),
            stage=stage,
        )[0]
        letter = parse_text_answer(g.text, p.displayed_options)
        if letter is not None:
            return p.canonical_index(letter), a + 1, p
    return None, max_attempts, p


def score_items(
    lm: LanguageModel,
    contexts: Sequence[str],
    items: Sequence[Item],
    orders: Sequence[str] = ("identity",),
    estimator: str = "logprob",
    samples: int = 1,
    seed: int = 0,
    stage: str = "survey",
    max_attempts: int = 3,
    progress: Progress | None = None,
    first_index: int = 0,
    min_compliance: float = 0.0,
    series: bool = False,
    seed_stage: str | None = None,
    order_policy: str = "all",
) -> Scored:
    """Each context answers each item: a distribution per (context, item).

    The ``logprob`` estimator reads the option letters' next-token probabilities under
    every order in ``orders`` and averages, in canonical order, the orders
    whose letter mass reaches ``min_compliance``; this cancels a model's
    preference for a letter position. With ``order_policy="seeded"`` each context
    sees each item in one order drawn from its seed key (:func:`orders_shown`), so the
    preference cancels over contexts at half the prompts for two orders. An answer with no such order is NaN
    (non-compliant: missing, as the method says). The ``sampled`` estimator follows the
    released Anthology procedure: per context, item and sample a seeded random
    choice among ``orders``, a sampled completion parsed to an option, and
    re-samples while non-compliant up to ``max_attempts``; an answer that never
    complies is dropped (NaN). ``series`` asks the items in one context in a
    seeded random order, each after the earlier questions and their answers
    (the drawn answer, with the logprob estimator) with the official instruction to keep
    them in mind. Seeds derive from ``(seed, seed_stage or stage, context index)``;
    ``stage`` also labels the token usage.
    """
    kmax = max(it.k for it in items)
    n = len(contexts)
    probs = np.full((n, len(items), kmax), np.nan)
    comp = np.zeros((n, len(items)))
    att = np.zeros((n, len(items)), dtype=np.int64)
    for c, ctx in enumerate(contexts):
        key = (seed, seed_stage or stage, first_index + c)
        if series:
            _score_series(
                lm,
                ctx,
                items,
                orders,
                estimator,
                samples,
                key,
                stage,
                max_attempts,
                min_compliance,
                probs[c],
                comp[c],
                att[c],
                order_policy,
            )
        elif estimator == "logprob":
            # All of a context's prompts in one call: they share its prefix, so
            # the server computes the context once and the suffixes as a batch.
            prompts, ks, pres, spans = [], [], [], []
            for it in items:
                ps, pr = _logprob_prompts(ctx, it, orders_shown(it, orders, order_policy, key))
                spans.append((len(prompts), len(prompts) + len(ps)))
                prompts += ps
                pres.append(pr)
                ks += [it.k] * len(ps)
            scores = lm.score_options(prompts, ks, stage=stage)
            for j, it in enumerate(items):
                a, b = spans[j]
                probs[c, j, : it.k], comp[c, j] = _combine_orders(
                    scores[a:b], pres[j], it.k, min_compliance
                )
        else:
            for j, it in enumerate(items):
                choices: list[int | None] = []
                for s in range(samples):
                    choice, used, _ = _sample_answer(
                        lm, ctx, it, orders, (*key, it.id, s), max_attempts, stage
                    )
                    choices.append(choice)
                    att[c, j] += used
                dist, compliance = sampled_distribution(choices, it.k)
                probs[c, j, : it.k] = dist if compliance > 0 else np.nan
                comp[c, j] = compliance
        if progress:
            progress(1)
    return Scored(probs, comp, att)


def _score_series(
    lm: LanguageModel,
    ctx: str,
    items: Sequence[Item],
    orders: Sequence[str],
    estimator: str,
    samples: int,
    key: tuple[object, ...],
    stage: str,
    max_attempts: int,
    min_compliance: float,
    probs: np.ndarray,
    comp: np.ndarray,
    att: np.ndarray,
    order_policy: str = "all",
) -> None:
    """One context answers ``items`` in series (fills its rows of the outputs)."""
    rng = np.random.default_rng(derive_seed(*key, "series-order"))
    answered: list[str] = []
    for j in rng.permutation(len(items)):
        it = items[j]
        here = series_context(ctx, answered)
        if estimator == "logprob":
            prompts, pres = _logprob_prompts(here, it, orders_shown(it, orders, order_policy, key))
            scores = lm.score_options(prompts, [it.k] * len(prompts), stage=stage)
            dist, comp[j] = _combine_orders(scores, pres, it.k, min_compliance)
            probs[j, : it.k] = dist
            if np.isfinite(dist).all():
                u = np.random.default_rng(derive_seed(*key, it.id, "series-draw")).random()
                pick = int(min(np.searchsorted(np.cumsum(dist), u * dist.sum()), it.k - 1))
                shown = pres[0]
                answered.append(series_turn(shown, LETTERS[shown.order.index(pick)]))
        else:
            choice, used, shown = _sample_answer(
                lm, here, it, orders, (*key, it.id, 0), max_attempts, stage
            )
            att[j] = used
            comp[j] = 0.0 if choice is None else 1.0
            if choice is not None:
                probs[j, : it.k] = np.eye(it.k)[choice]
                answered.append(series_turn(shown, LETTERS[shown.order.index(choice)]))


def annotate(
    lm: LanguageModel,
    backstories: Sequence[str],
    traits: Sequence[str | Trait],
    estimator: str = "logprob",
    samples: int = 40,
    seed: int = 0,
    progress: Progress | None = None,
    first_index: int = 0,
    orders: Sequence[str] = ("identity",),
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each backstory-conditioned persona answers the demographic questionnaire.

    ``traits`` are catalogue names or :class:`~silico.core.traits.Trait` objects
    (a study's own definitions, asked as defined). Returns, per trait name, the
    (V, n_fine + 1) distribution over its options (the last is "Prefer not to
    answer"), and the compliance (V, T).
    """
    items = [demographic_item(t) for t in traits]
    names = [t.name if isinstance(t, Trait) else t for t in traits]
    scored = score_items(
        lm,
        backstories,
        items,
        orders=orders,
        estimator=estimator,
        samples=samples,
        seed=seed,
        stage="demographics",
        progress=progress,
        first_index=first_index,
        # Sampled answers' seeds keep the stage's earlier name, so that recorded
        # studies replay (and hit the response cache) as they did.
        seed_stage="annotate",
    )
    out = {}
    for j, t in enumerate(names):
        p = scored.probs[:, j, : items[j].k].copy()
        # The method's rule for demographics: no letter mass means no information,
        # which is the uniform distribution (unlike a survey answer, which is dropped).
        p[~np.isfinite(p).all(axis=1)] = 1.0 / items[j].k
        out[t] = p
    return out, scored.compliance


def personas_of(
    backstories: Sequence[Backstory], truncate_words: int | None = None
) -> list[Backstory]:
    """The accepted backstories, as the personas use them.

    ``truncate_words`` is the talk's length ablation: every backstory is cut
    to its first N words before annotation and answering (the stored
    backstory keeps its full text).
    """
    out = [b for b in backstories if b.accepted]
    if truncate_words:
        out = [replace(b, text=" ".join(b.text.split()[:truncate_words])) for b in out]
    return out


def _penalty(repetition_penalty: float) -> dict[str, float]:
    # Only sent (and only part of a backstory's address) when on, so servers
    # without the parameter and libraries written before it are unaffected.
    return {} if repetition_penalty in (0.0, 1.0) else {"repetition_penalty": repetition_penalty}


def backstory_params(
    max_tokens: int,
    temperature: float,
    top_p: float,
    variant: str,
    prompt_format: str,
    repetition_penalty: float = 1.0,
) -> dict[str, object]:
    """The sampling settings that, with text, model and seed, address a backstory."""
    return {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "variant": variant,
        "format": prompt_format,
        **_penalty(repetition_penalty),
    }


def sample_candidate(
    lm: LanguageModel,
    *,
    study_seed: int,
    index: int,
    attempt: int,
    model_name: str,
    variant: str,
    prompt_format: str,
    max_tokens: int,
    temperature: float,
    top_p: float,
    citizen_preamble: bool = False,
    repetition_penalty: float = 1.0,
) -> tuple[str, int, int, str]:
    """One persona's attempt, alone: ``(text, generated_tokens, seed, backstory_id)``.

    Attempt ``a`` of persona ``i`` samples with seed ``derive_seed(study_seed,
    "backstory", i, a)``: any persona can be regenerated alone.
    """
    s = derive_seed(study_seed, "backstory", index, attempt)
    pre = _citizen_answers(lm, [s], prompt_format)[0] if citizen_preamble else None
    prompt, stop = backstory_prompt_for(variant, prompt_format, pre)
    g = lm.generate(
        [prompt],
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stop,
        seed=[s],
        stage="backstory",
        **_penalty(repetition_penalty),
    )[0]
    text = clean_backstory(g.text, stop)
    params = backstory_params(
        max_tokens, temperature, top_p, variant, prompt_format, repetition_penalty
    )
    return text, g.completion_tokens, s, backstory_id(text, model_name, params, s)
