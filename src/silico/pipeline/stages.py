"""One function per stage, around the pure core: prompts in, parsed results out.

A stage talks to a model only through the :class:`LanguageModel` protocol
(the completions client implements it), so the same functions serve the
in-process runner and the stage services.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from silico.core.extraction import OptionScores, parse_text_answer, sampled_distribution
from silico.core.prompts import (
    BACKSTORY_QUESTION_LONG,
    BACKSTORY_QUESTION_SHORT,
    BACKSTORY_STOP,
    INTERVIEW_QUESTIONS,
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
    survey_prompt,
)
from silico.core.sampling import derive_seed
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
    ) -> list[Generation]: ...

    def score_options(
        self, prompts: Sequence[str], n_options: Sequence[int] | int, stage: str = ...
    ) -> list[OptionScores]: ...


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
    tokens: int
    attempts: int
    accepted: bool
    reason: str = ""
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)


def backstory_id(text: str, model: str, params: dict[str, object], seed: int) -> str:
    blob = repr((text, model, sorted(params.items()), seed)).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _single_turn_prompt(variant: str, fmt: str, preamble: str | None) -> str:
    if fmt == "chatml":
        q = BACKSTORY_QUESTION_SHORT if variant == "short" else BACKSTORY_QUESTION_LONG
        return chatml(q + " Answer in the first person, as yourself.")
    return backstory_prompt(variant, preamble)


def critic_verdict(lm: LanguageModel | None, text: str, earlier: Sequence[Turn] = ()) -> Verdict:
    """Rule checks first; then, if a model is given, the critic model's verdict.

    The model is asked to choose (A) accept or (B) reject, and scored from
    logprobs (one token), which a small model does far more reliably than
    writing a free-text verdict.
    """
    rules = check_consistency(text, earlier)
    if not rules.accepted or lm is None:
        return rules
    prompt = critic_prompt(text, earlier).removesuffix("Verdict:").rstrip()
    item = Item("critic", "Is the NEW TEXT acceptable?", ("Accept", "Reject"))
    scores = lm.score_options([survey_prompt(prompt, present(item))], 2, stage="critic")[0]
    if scores.probs[1] > scores.probs[0]:
        return Verdict(False, "model_reject", f"critic model P(reject)={scores.probs[1]:.2f}")
    return Verdict(True)


def judge_candidate(
    critic: LanguageModel | None,
    text: str,
    completion_tokens: int,
    min_tokens: int,
    use_critic: bool,
) -> Verdict:
    """A sampled backstory's verdict: too short, else the critic's (rules, then model)."""
    if completion_tokens <= min_tokens or len(text.split()) < 10:
        return Verdict(False, "too_short", f"{completion_tokens} tokens")
    if use_critic:
        return critic_verdict(critic, text)
    return Verdict(True)


def backstory_prompt_for(
    variant: str, prompt_format: str, preamble: str | None = None
) -> tuple[str, list[str]]:
    """The single-turn prompt and its stop sequences."""
    stop = list(CHATML_STOP) if prompt_format == "chatml" else list(BACKSTORY_STOP)
    return _single_turn_prompt(variant, prompt_format, preamble), stop


def generate_backstories(
    lm: LanguageModel,
    *,
    count: int,
    seed: int,
    model_name: str,
    mode: str = "single_turn",
    variant: str = "long",
    prompt_format: str = "plain",
    max_tokens: int = 256,
    min_tokens: int = 40,
    temperature: float = 1.0,
    top_p: float = 1.0,
    citizen_preamble: bool = False,
    critic: LanguageModel | None = None,
    use_critic: bool = True,
    max_attempts: int = 3,
    progress: Progress | None = None,
    chunk: int = 32,
) -> list[Backstory]:
    """Generate ``count`` backstories; reject short or inconsistent ones and re-sample.

    Persona ``i``'s attempt ``a`` samples with seed ``derive_seed(seed,
    "backstory", i, a)``: any persona can be regenerated alone. A persona
    that fails every attempt is kept with ``accepted=False`` and its last
    reason (the caller drops it and reports the rate). Personas are sampled
    ``chunk`` at a time (one batch on the server) so progress is visible.
    """
    if mode == "interview":
        return [
            interview_backstory(
                lm,
                seed=seed,
                index=i,
                model_name=model_name,
                prompt_format=prompt_format,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                critic=critic if use_critic else None,
                max_attempts=max_attempts,
            )
            for i in _with_progress(range(count), progress)
        ]
    params = backstory_params(max_tokens, temperature, top_p, variant, prompt_format)
    stop = list(CHATML_STOP) if prompt_format == "chatml" else list(BACKSTORY_STOP)
    done: dict[int, Backstory] = {}
    verdicts: dict[int, list[Verdict]] = {i: [] for i in range(count)}
    for start in range(0, count, chunk):
        pending = list(range(start, min(start + chunk, count)))
        for attempt in range(max_attempts):
            if not pending:
                break
            seeds = [derive_seed(seed, "backstory", i, attempt) for i in pending]
            preambles: list[str | None] = [None] * len(pending)
            if citizen_preamble and prompt_format == "plain":
                preambles = [_citizen_answer(lm, s) for s in seeds]
            prompts = [_single_turn_prompt(variant, prompt_format, pre) for pre in preambles]
            gens = lm.generate(
                prompts,
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=top_p,
                stop=stop,
                seed=seeds,
                stage="backstory",
            )
            still = []
            for i, s, g in zip(pending, seeds, gens, strict=True):
                text = clean_backstory(g.text, stop)
                v = judge_candidate(critic, text, g.completion_tokens, min_tokens, use_critic)
                verdicts[i].append(v)
                if v.accepted or attempt == max_attempts - 1:
                    done[i] = Backstory(
                        backstory_id(text, model_name, params, s),
                        text,
                        s,
                        g.completion_tokens,
                        attempt + 1,
                        v.accepted,
                        v.reason,
                        tuple(verdicts[i]),
                    )
                    if progress:
                        progress(1)
                else:
                    still.append(i)
            pending = still
    return [done[i] for i in range(count)]


def _citizen_answer(lm: LanguageModel, seed: int, tries: int = 5) -> str:
    for t in range(tries):
        g = lm.generate(
            [citizen_prompt()],
            max_tokens=16,
            temperature=1.0,
            stop=["\n", "Question"],
            seed=derive_seed(seed, "citizen", t),
            stage="backstory",
        )[0]
        if accepts_citizen_answer(g.text):
            return g.text.strip()
    return "Yes."


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
            )[0]
            answer = clean_backstory(g.text, stop)
            tokens += g.completion_tokens
            v = (
                Verdict(False, "too_short", "empty answer")
                if len(answer.split()) < 3
                else critic_verdict(critic, answer, turns)
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


def _with_progress(it: Sequence[int], progress: Progress | None):  # type: ignore[no-untyped-def]
    for x in it:
        yield x
        if progress:
            progress(1)


@dataclass(frozen=True)
class Scored:
    """Option distributions of several contexts on several items.

    ``probs[c, j, :K_j]`` is context ``c``'s distribution over item ``j``'s
    options in canonical order (averaged over the option orders);
    ``compliance[c, j]`` the mass that fell on option letters.
    """

    probs: np.ndarray
    compliance: np.ndarray


def score_items(
    lm: LanguageModel,
    contexts: Sequence[str],
    items: Sequence[Item],
    orders: Sequence[str] = ("identity",),
    mode: str = "logprob",
    samples: int = 1,
    seed: int = 0,
    stage: str = "survey",
    max_attempts: int = 3,
    progress: Progress | None = None,
    first_index: int = 0,
) -> Scored:
    """Each context answers each item: a distribution per (context, item).

    ``logprob`` mode reads the option letters' next-token probabilities under
    every order in ``orders`` and averages them in canonical order, which
    cancels a model's preference for a letter position. ``sampled`` mode
    draws ``samples`` answers (the order alternates between samples), parses
    them, and re-samples a non-compliant one up to ``max_attempts`` times.
    """
    kmax = max(it.k for it in items)
    probs = np.full((len(contexts), len(items), kmax), np.nan)
    comp = np.zeros((len(contexts), len(items)))
    for c, ctx in enumerate(contexts):
        if mode == "logprob":
            prompts, ks, pres = [], [], []
            for it in items:
                for o in orders:
                    p = present(it, reversed_order(it.k) if o == "reversed" else None)
                    pres.append(p)
                    prompts.append(survey_prompt(ctx, p))
                    ks.append(it.k)
            scores = lm.score_options(prompts, ks, stage=stage)
            for j, it in enumerate(items):
                acc = np.zeros(it.k)
                cm = 0.0
                for o in range(len(orders)):
                    s = scores[j * len(orders) + o]
                    acc += np.asarray(pres[j * len(orders) + o].to_canonical(s.probs))
                    cm += s.compliance
                probs[c, j, : it.k] = acc / len(orders)
                comp[c, j] = cm / len(orders)
        else:
            for j, it in enumerate(items):
                choices: list[int | None] = []
                for s in range(samples):
                    o = orders[s % len(orders)]
                    p = present(it, reversed_order(it.k) if o == "reversed" else None)
                    choice = None
                    for a in range(max_attempts):
                        g = lm.generate(
                            [survey_prompt(ctx, p)],
                            max_tokens=16,
                            temperature=1.0,
                            stop=["\n", "Question:"],
                            seed=derive_seed(seed, stage, first_index + c, it.id, s, a),
                            stage=stage,
                        )[0]
                        letter = parse_text_answer(g.text, p.displayed_options)
                        if letter is not None:
                            choice = p.canonical_index(letter)
                            break
                    choices.append(choice)
                dist, compliance = sampled_distribution(choices, it.k)
                probs[c, j, : it.k] = dist
                comp[c, j] = compliance
        if progress:
            progress(1)
    return Scored(probs, comp)


def annotate(
    lm: LanguageModel,
    backstories: Sequence[str],
    traits: Sequence[str],
    estimator: str = "logprob",
    samples: int = 40,
    seed: int = 0,
    progress: Progress | None = None,
    first_index: int = 0,
    orders: Sequence[str] = ("identity",),
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each backstory-conditioned persona answers the demographic questionnaire.

    Returns, per trait, the (V, n_fine + 1) distribution over the catalogue
    options (the last is "Prefer not to answer"), and the compliance (V, T).
    """
    items = [demographic_item(t) for t in traits]
    scored = score_items(
        lm,
        backstories,
        items,
        orders=orders,
        mode=estimator,
        samples=samples,
        seed=seed,
        stage="annotate",
        progress=progress,
        first_index=first_index,
    )
    out = {t: scored.probs[:, j, : items[j].k].copy() for j, t in enumerate(traits)}
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


def backstory_params(
    max_tokens: int, temperature: float, top_p: float, variant: str, prompt_format: str
) -> dict[str, object]:
    """The sampling settings that, with text, model and seed, address a backstory."""
    return {
        "max_tokens": max_tokens,
        "temperature": temperature,
        "top_p": top_p,
        "variant": variant,
        "format": prompt_format,
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
) -> tuple[str, int, int, str]:
    """One persona's attempt, alone: ``(text, completion_tokens, seed, backstory_id)``.

    Uses the seed :func:`generate_backstories` uses for the same persona and
    attempt, so a worker that samples personas one by one produces the same
    library as the batched in-process run.
    """
    s = derive_seed(study_seed, "backstory", index, attempt)
    pre = _citizen_answer(lm, s) if citizen_preamble and prompt_format == "plain" else None
    prompt, stop = backstory_prompt_for(variant, prompt_format, pre)
    g = lm.generate(
        [prompt],
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        stop=stop,
        seed=[s],
        stage="backstory",
    )[0]
    text = clean_backstory(g.text, stop)
    params = backstory_params(max_tokens, temperature, top_p, variant, prompt_format)
    return text, g.completion_tokens, s, backstory_id(text, model_name, params, s)
