"""The ``silico`` command line.

Errors are one line on stderr and a non-zero exit code, never a traceback
(``SILICO_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from silico.core.errors import SilicoError, ValidationError
from silico.files import check_replaceable

DEFAULT_STATE = Path(os.environ.get("SILICO_HOME", ".silico"))


class Progress:
    """Per-stage progress on stderr: a redrawn bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.monotonic()
        self.stage_t0: dict[str, float] = {}
        self.last_line = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        self.stage_t0.setdefault(stage, now)
        elapsed = now - self.stage_t0[stage]
        eta = (elapsed / done * (total - done)) if done else float("nan")
        frac = done / total if total else 1.0
        bar = "#" * int(frac * 30)
        eta_s = f"eta {eta:5.0f}s" if done and done < total else ""
        line = f"{stage:<12} [{bar:<30}] {done:>5}/{total:<5} {elapsed:6.0f}s {eta_s}"
        if self.tty:
            self.stream.write("\r" + line.ljust(90))
            if done >= total:
                self.stream.write("\n")
        elif done >= total or done == 0 or now - self.last_line > 10:
            self.stream.write(line + "\n")
            self.last_line = now
        self.stream.flush()


def _cmd_schema(args: argparse.Namespace) -> int:
    from silico.pipeline.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


# Throughput of the embedded SmolLM2 server on 2 CPU cores (make bench):
# prompt tokens prefilled per second, and tokens generated per second with
# 16 generations batched. Used only to estimate a plan.
EMBEDDED_PREFILL_TPS = 400.0
EMBEDDED_DECODE_TPS = 55.0
BACKSTORY_PROMPT_TOKENS = 60  # the "Tell me about yourself" prompt
QUESTION_TOKENS = 70  # one survey or demographic question with its options
CRITIC_PROMPT_TOKENS = 120  # the critic's instructions around a backstory


def _plan(spec: Any) -> dict[str, Any]:
    """The work a study will do, with token and time estimates on the embedded model."""
    from silico.pipeline.runner import load_humans

    humans = load_humans(spec)
    bs = spec.backstories
    traits = spec.traits()
    n_items = len(spec.questionnaire.items)
    orders = len(spec.survey.orders)
    baselines = [c for c in spec.conditioning if c != "anthology"]
    anthology = "anthology" in spec.conditioning
    story = bs.max_tokens * 0.9  # most stories run close to the cap
    gen_tokens = bs.count * bs.max_tokens * (1.15 if spec.critic.enabled else 1.0)
    interview_prefill = 0.0
    if bs.mode == "interview":
        from silico.core.prompts import INTERVIEW_QUESTIONS

        q = len(INTERVIEW_QUESTIONS)
        story = q * (bs.max_tokens * 0.9 + 20)
        gen_tokens *= q
        # Each answer re-reads the transcript so far (the server reuses its prefix
        # when it can; this counts it as read again).
        interview_prefill = bs.count * (q * (q + 1) / 2) * (bs.max_tokens * 0.9 + 20)
    critic_prompt = (
        bs.count * (story + CRITIC_PROMPT_TOKENS)
        if spec.critic.enabled and spec.critic.use_model
        else 0
    )
    # Logprob mode scores every option order; sampled mode draws one completion
    # per answer (or per demographic sample) in a seeded order (retries not counted).
    demo = spec.demographics
    per_trait = len(demo.orders) if demo.estimator == "logprob" else demo.samples
    per_answer = orders if spec.survey.estimator == "logprob" else 1
    annotate_prompts = bs.count * len(traits) * per_trait
    survey_prompts = (bs.count if anthology else 0) * n_items * per_answer
    baseline_prompts = len(baselines) * humans.n * n_items * per_answer
    if spec.higher_order is not None:
        from silico.core.prompts import KIND_PERSPECTIVES

        # Every persona at most (the partisan ones answer), one variant per
        # perspective of the item's kind (rating 5, behaviour 4).
        variants = sum(len(KIND_PERSPECTIVES[it.kind]) for it in spec.higher_order.items)
        survey_prompts += bs.count * variants * per_answer
    sampled = (annotate_prompts if demo.estimator == "sampled" else 0) + (
        survey_prompts + baseline_prompts if spec.survey.estimator == "sampled" else 0
    )
    gen_tokens += sampled * 16  # a sampled answer is at most 16 tokens
    # The backstory is prefilled once per persona and reused for its questions.
    prefill = (
        interview_prefill
        + bs.count * BACKSTORY_PROMPT_TOKENS
        + critic_prompt
        + bs.count * story * (1 + (1 if anthology else 0))
        + (annotate_prompts + survey_prompts) * QUESTION_TOKENS
        + baseline_prompts * (QUESTION_TOKENS + 60)
    )
    seconds = prefill / EMBEDDED_PREFILL_TPS + gen_tokens / EMBEDDED_DECODE_TPS
    return {
        "study": spec.name,
        "humans": humans.n,
        "backstories": bs.count,
        "traits": traits,
        "items": n_items,
        "conditioning": spec.conditioning,
        "matching": spec.matching.methods,
        "model_calls": int(
            bs.count * (2 if spec.critic.use_model else 1)
            + annotate_prompts
            + survey_prompts
            + baseline_prompts
        ),
        "scoring_prompts": annotate_prompts + survey_prompts + baseline_prompts,
        "est_prompt_tokens": int(prefill),
        "est_generated_tokens": int(gen_tokens),
        "est_minutes_embedded_cpu": round(seconds / 60, 1),
    }


def _cmd_validate(args: argparse.Namespace) -> int:
    from silico.pipeline.runner import load_humans
    from silico.pipeline.spec import load_spec

    spec = load_spec(args.spec, args.data_dir)
    _print_plan(args.spec, spec)
    _print_coverage(load_humans(spec))
    return 0


def _print_coverage(humans: Any) -> None:
    """How complete the respondents are: traits to match on, question texts to ask."""
    from silico.core.data import coverage

    cov = coverage(humans)
    share = cov.complete / cov.n if cov.n else 0.0
    print("coverage")
    print(f"  {'every trait':<26} {cov.complete} of {cov.n} respondents ({share:.0%})")
    for trait, row in cov.shares.items():
        cells = [f"{c} {v:.0%}" for c, v in row.items() if c != "missing"]
        if row.get("missing"):
            cells.append(f"missing {row['missing']:.0%}")
        print(f"  {trait:<26} {', '.join(cells)}")
    n_items = len(humans.items)
    if not cov.cut and not cov.no_question:
        print(f"  {'question texts':<26} all {n_items} items have theirs")
    if cov.cut:
        print(f"  {'cut question text':<26} {', '.join(cov.cut)}")
    if cov.no_question:
        print(f"  {'no question text':<26} {', '.join(cov.no_question)} (asked by name)")


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _cmd_data_inspect(args: argparse.Namespace) -> int:
    from silico.core.data import draft_spec, inspect_dataset

    out = Path(args.spec_out) if args.spec_out else None
    if out is not None and out.exists():
        raise SilicoError(f"{out} exists; choose another --spec-out (nothing was written)")
    ins = inspect_dataset(args.file, args.codebook, top=args.top)
    source = f"codebook {Path(args.codebook).name}" if args.codebook else "its own labels"
    if ins.needs_codebook:
        source = "no codebook: values only"
    print(
        f"{ins.path.name}: {ins.n} respondents, {len(ins.variables)} variables "
        f"({ins.format}; {source})"
    )
    width = max([len(v.name) for v in ins.variables] + [8])
    for v in ins.variables:
        total = v.n_valid or 1
        top = ", ".join(
            f"{code}{' ' + _short(lab, 18) if lab and lab != code else ''} {n / total:.0%}"
            for code, n, lab in v.top
        )
        if v.span is not None:
            top = f"from {v.span[0]:g} to {v.span[1]:g}"
        miss = " ".join(f"{code}:{n}" for code, n in v.missing)
        line = f"  {v.name:<{width}} {v.kind:<10} n={v.n_valid:<6} {_short(v.label, 40):<40}"
        line += f"  {top}" + (f"  | missing {miss}" if miss else "")
        print(line + (f"  -> {v.role}" if v.role else ""))
    print("\nproposed (guesses from names and labels: check them)")
    print(f"  {'weight':<10} {ins.weight or '(none found: unit weights)'}")
    print(f"  {'id':<10} {ins.id_column or '(none found: row numbers)'}")
    for t in ins.traits:
        how = "values are the labels" if t.values is None else f"{len(t.values)} values mapped"
        note = f"; unplaced -> null: {', '.join(t.unmapped[:4])}" if t.unmapped else ""
        print(f"  {t.trait:<10} {t.column} as {t.scheme} ({how}, {t.mapped:.0%} placed{note})")
    ready = [it.name for it in ins.items if not it.cut]
    cut = [it.name for it in ins.items if it.cut]
    listed = _short(", ".join(ready), 160)
    print(f"  {'items':<10} {len(ready)} ordinal with full question text: {listed}")
    if cut:
        print(
            f"  {'':<10} {len(cut)} with cut question text (need questionnaire.questions): "
            f"{_short(', '.join(cut), 160)}"
        )
    for name, why in ins.skipped:
        print(f"  {'left out':<10} {name}: {why}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(draft_spec(ins, out))
        print(f"\ndraft spec written to {out}: check it, then `silico validate {out}`")
    else:
        print("\n--spec-out SPEC.yaml writes these proposals as a draft study spec")
    return 0


HEADLINE_COLS = ["method", "wd", "wd_norm", "frobenius", "cbs", "alpha_virtual", "alpha_human"]


def _print_headline(table: Any, report: Path, t0: float) -> None:
    print()
    cols = [c for c in HEADLINE_COLS if c in table.columns]
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    folder = report if report.is_dir() else report.parent
    doc_path = folder / "metrics.json"
    doc = json.loads(doc_path.read_text()) if doc_path.is_file() else {}
    if doc:
        _print_honesty(doc)
    print(f"\nreport: {report}  (metrics.json, tables/, data/, plots/ beside it)")
    stages = doc.get("seconds") or {}
    per_stage = ", ".join(f"{k} {v:.0f}s" for k, v in stages.items())
    print(f"wall time: {time.monotonic() - t0:.0f}s" + (f" ({per_stage})" if per_stage else ""))


def _print_honesty(doc: dict[str, Any]) -> None:
    """What the headline rests on: dropped answers, how intervals and the bound were made."""
    dropped = doc.get("dropped_answers") or {}
    if dropped:
        parts = ", ".join(f"{m} {d['total']}/{d['of']}" for m, d in dropped.items())
        print(f"\ndropped non-compliant answers (missing, not guessed): {parts}")
    unc = doc.get("uncertainty") or {}
    if unc.get("bootstrap"):
        print(f"intervals: {unc['bootstrap']} ({unc.get('bootstrap_replicates')} replicates)")
    sh = unc.get("split_half") or {}
    if sh:
        print(
            f"lower bound: mean of {sh.get('iterations')} split-halves, "
            f"half size {sh.get('half_size')} respondents"
        )
        if sh.get("warning"):
            print(f"warning: {sh['warning']}")


def _cmd_run(args: argparse.Namespace) -> int:
    from silico.pipeline.spec import load_spec

    if args.model_name and not args.model_url:
        raise ValidationError("--model-name", "names a model of --model-url; give both")
    spec = load_spec(args.spec, args.data_dir)
    out = Path(args.out or f"reports/{spec.name}")
    check_replaceable(out)  # before the study runs, not after
    if args.in_process:
        return _run_in_process(args, spec, out)
    return _run_on_stack(args, spec, out)


def _run_in_process(args: argparse.Namespace, spec: Any, out: Path) -> int:
    from silico.llm import CompletionsClient, ResponseCache, UsageLedger, served_model
    from silico.local.procs import EMBEDDED_MODEL, start_model_server
    from silico.pipeline.registry import ROLE_NAMES
    from silico.pipeline.routes import Router, resolve
    from silico.pipeline.runner import run_study
    from silico.pipeline.spec import ModelRoute
    from silico.report import write_report

    state = Path(args.state_dir)
    server = None
    base_url = args.model_url
    t0 = time.monotonic()
    # The embedded server starts only for roles neither the spec nor --model-url routes.
    needs_embedded = base_url is None and any(
        spec.model.route(r).base_url is None for r in ROLE_NAMES
    )
    router = None
    try:
        if needs_embedded:
            print(
                "starting the embedded model server (first start converts the GGUF weights once)...",
                file=sys.stderr,
            )
            server = start_model_server(state / "logs", threads=args.threads)
            base_url = server.base_url
            print(f"model server ready at {base_url}", file=sys.stderr)
        default = ModelRoute()
        if base_url is not None:
            unnamed = any(spec.model.route(r).name is None for r in ROLE_NAMES)
            name = args.model_name or (
                EMBEDDED_MODEL if server else served_model(base_url) if unnamed else None
            )
            default = ModelRoute(base_url=base_url, name=name)
        spec = resolve(spec, {r: default for r in ROLE_NAMES})
        cache = None if args.no_cache else ResponseCache(state / "cache" / "responses.sqlite")
        ledger = UsageLedger()
        router = Router(
            lambda url, name, revision: CompletionsClient(
                url,
                name,
                timeout=spec.model.timeout_s,
                max_retries=spec.model.max_retries,
                concurrency=spec.model.concurrency,
                cache=cache,
                ledger=ledger,
                revision=revision,
            ),
            default,
        )
        result = run_study(spec, router, progress=Progress())
        report = write_report(result, out, ledger)
    finally:
        if router is not None:
            router.close()
        if server is not None:
            server.stop()
    _print_headline(report.tables["headline"], report.path / "report.html", t0)
    return 0


def _stack_running(state: Path) -> str | None:
    """The StudyService address of a running local stack in ``state``, if any."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    f = state / "stack.json"
    if not f.is_file():
        return None
    addr = str(json.loads(f.read_text())["study"])
    try:
        with grpc.insecure_channel(addr) as ch:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=2)
        return addr if r.status == health_pb2.HealthCheckResponse.SERVING else None
    except grpc.RpcError:
        return None


def _run_on_stack(args: argparse.Namespace, spec: Any, out: Path) -> int:
    """Start the local stack (unless one is running), submit, watch, fetch the report."""
    from silico.client import Client
    from silico.local.stack import up

    state = Path(args.state_dir)
    t0 = time.monotonic()
    stack = None
    addr = _stack_running(state)
    if addr is None:
        print(
            "starting the local stack: broker, model server, every service "
            "(first start converts the GGUF weights once)...",
            file=sys.stderr,
        )
        stack = up(
            state,
            model_url=args.model_url,
            model_name=args.model_name,
            response_cache=not args.no_cache,
            threads=args.threads,
        )
        addr = stack.study_addr
        print(f"stack up in {time.monotonic() - t0:.0f}s; StudyService at {addr}", file=sys.stderr)
    else:
        print(f"using the running stack at {addr}", file=sys.stderr)
    try:
        with Client(addr) as client:
            study = client.submit(spec)
            print(f"submitted study {study.id}", file=sys.stderr)
            client.wait(study.id, on_progress=_StudyProgress())
            report = client.report(study.id, out)
            res = client.results(study.id)
    finally:
        if stack is not None:
            stack.stop()
    _print_headline(res.tables["headline"], report, t0)
    return 0


class _StudyProgress:
    """Feeds WatchStudy events into the per-stage :class:`Progress` display."""

    def __init__(self) -> None:
        self.bars = Progress()
        self.seen: dict[str, tuple[int, int]] = {}

    def __call__(self, info: Any) -> None:
        for stage, (done, total) in info.progress.items():
            if self.seen.get(stage) != (done, total):
                self.seen[stage] = (done, total)
                self.bars(stage, done, total)


def _cmd_up(args: argparse.Namespace) -> int:
    from silico.local.stack import up

    if args.model_name and not args.model_url:
        raise ValidationError("--model-name", "names a model of --model-url; give both")
    stack = up(
        Path(args.state_dir),
        model_url=args.model_url,
        model_name=args.model_name,
        study_port=args.port,
        threads=args.threads,
    )
    print(f"stack up: StudyService at {stack.study_addr}; logs in {Path(args.state_dir) / 'logs'}")
    print("submit with: silico submit SPEC.yaml --watch; stop with: silico down")
    if args.foreground:
        import signal

        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            stack.stop()
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from silico.local.stack import down

    stopped = down(Path(args.state_dir))
    print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    return 0


def _client(args: argparse.Namespace) -> Any:
    from silico.client import Client

    return Client(
        args.addr,
        token=args.token,
        tls_ca=args.tls_ca,
        config=args.config,
        state_dir=args.state_dir,
    )


def _print_plan(path: str, spec: Any) -> None:
    print(f"{path}: valid")
    for k, v in _plan(spec).items():
        print(f"  {k:<26} {v}")


def _cmd_submit(args: argparse.Namespace) -> int:
    if args.dry_run:
        from silico.pipeline.spec import load_spec

        _print_plan(args.spec, load_spec(args.spec, args.data_dir))
        print("dry run: nothing submitted")
        return 0
    with _client(args) as c:
        study = c.submit(args.spec, args.data_dir)
        print(study.id)
        if args.watch:
            return _watch(c, study.id)
    return 0


def _watch(c: Any, study_id: str) -> int:
    info = c.wait(study_id, on_progress=_StudyProgress())
    print(f"{info.id} {info.state}")
    return 0


def _cmd_watch(args: argparse.Namespace) -> int:
    with _client(args) as c:
        return _watch(c, args.study_id)


def _info_line(s: Any) -> str:
    prog = " ".join(f"{k}={d}/{t}" for k, (d, t) in s.progress.items())
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.created))
    err = f"  error: {s.error}" if s.error else ""
    return f"{s.id}  {s.name:<20} {s.state:<10} {when}  {prog}{err}"


def _cmd_status(args: argparse.Namespace) -> int:
    with _client(args) as c:
        print(_info_line(c.get(args.study_id)))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    with _client(args) as c:
        for s in c.list(args.limit):
            print(_info_line(s))
    return 0


def _dataset_line(d: Any) -> str:
    return f"{d.id}  {d.filename}  {d.size_bytes} bytes  sha256 {d.sha256[:12]}  ({d.ref})"


def _cmd_data_upload(args: argparse.Namespace) -> int:
    with _client(args) as c:
        print(_dataset_line(c.upload(args.file)))
    return 0


def _cmd_data_list(args: argparse.Namespace) -> int:
    with _client(args) as c:
        for d in c.datasets():
            print(_dataset_line(d))
    return 0


def _cmd_data_delete(args: argparse.Namespace) -> int:
    with _client(args) as c:
        print(f"deleted {_dataset_line(c.delete_dataset(args.dataset_id))}")
    return 0


def _cmd_cancel(args: argparse.Namespace) -> int:
    with _client(args) as c:
        print(_info_line(c.cancel(args.study_id)))
    return 0


def _cmd_results(args: argparse.Namespace) -> int:
    with _client(args) as c:
        res = c.results(args.study_id)
    written = res.save(args.out, args.format)
    print(f"{len(written)} files written to {args.out}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    check_replaceable(args.out)
    with _client(args) as c:
        path = c.report(args.study_id, args.out)
    print(f"report: {path}")
    return 0


def _connection_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--addr", help="StudyService host:port (default: SILICO_ADDR, config, local stack)"
    )
    p.add_argument("--token", help="API token (default: SILICO_TOKEN or the config file)")
    p.add_argument("--tls-ca", help="CA certificate to verify the server (enables TLS)")
    p.add_argument("--config", help="config file (default ~/.config/silico/config.yaml)")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE), help="local stack state folder")


def _cmd_tenant(args: argparse.Namespace) -> int:
    from silico.store import Store

    url = (
        args.store_url
        or os.environ.get("SILICO_STORE_URL")
        or (f"sqlite:///{Path(args.state_dir) / 'silico.db'}")
    )
    token = Store(url).create_tenant(
        args.name,
        max_active_studies=args.max_active_studies,
        max_humans=args.max_humans,
        max_backstories=args.max_backstories,
    )
    print(f"tenant {args.name} created; its API token (shown once, stored hashed):")
    print(token)
    return 0


def _store_url(args: argparse.Namespace) -> str:
    return str(
        args.store_url
        or os.environ.get("SILICO_STORE_URL")
        or f"sqlite:///{Path(args.state_dir) / 'silico.db'}"
    )


def _cmd_library(args: argparse.Namespace) -> int:
    from silico.store import Store

    n = Store(_store_url(args)).export_backstories(args.out)
    print(f"{n} backstories written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="silico", description="Virtual survey panels from LLM personas."
    )
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a study and write its report")
    p.add_argument("spec", help="study YAML")
    p.add_argument(
        "--in-process",
        action="store_true",
        help="run the stages in this process (no broker, no services); "
        "default: through the local stack, started if none is running",
    )
    p.add_argument("--out", help="report folder (default: reports/<study name>)")
    p.add_argument("--data-dir", help="folder holding the data CSV and codebook named in the spec")
    p.add_argument(
        "--model-url",
        help="OpenAI-compatible API root for the roles the spec does not route; "
        "default: the embedded server",
    )
    p.add_argument(
        "--model-name", help="served model name at --model-url (as its /v1/models lists it)"
    )
    p.add_argument(
        "--state-dir", default=str(DEFAULT_STATE), help="logs and response cache (default .silico)"
    )
    p.add_argument(
        "--threads", type=int, default=0, help="CPU threads of the embedded model server"
    )
    p.add_argument("--no-cache", action="store_true", help="do not use or fill the response cache")
    p.set_defaults(fn=_cmd_run)

    p = sub.add_parser("validate", help="check a study YAML and print the planned work")
    p.add_argument("spec")
    p.add_argument("--data-dir")
    p.set_defaults(fn=_cmd_validate)

    p = sub.add_parser("up", help="start the local stack: broker, model server, every service")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.add_argument(
        "--model-url", help="use this OpenAI-compatible server instead of the embedded one"
    )
    p.add_argument(
        "--model-name", help="served model name at --model-url (as its /v1/models lists it)"
    )
    p.add_argument("--port", type=int, default=50051, help="StudyService port")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--foreground", action="store_true", help="stay attached; Ctrl-C stops the stack"
    )
    p.set_defaults(fn=_cmd_up)

    p = sub.add_parser("down", help="stop the local stack")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.set_defaults(fn=_cmd_down)

    p = sub.add_parser("submit", help="submit a study to a running installation")
    p.add_argument("spec")
    p.add_argument("--watch", action="store_true", help="follow its progress until it ends")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate the spec and print the planned work and estimates; submit nothing",
    )
    p.add_argument("--data-dir")
    _connection_flags(p)
    p.set_defaults(fn=_cmd_submit)

    for name, fn, help_ in (
        ("watch", _cmd_watch, "follow a study's progress until it ends"),
        ("status", _cmd_status, "show a study's state and progress"),
        ("cancel", _cmd_cancel, "cancel a study"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("study_id")
        _connection_flags(p)
        p.set_defaults(fn=fn)

    p = sub.add_parser("list", help="list studies")
    p.add_argument("--limit", type=int, default=50)
    _connection_flags(p)
    p.set_defaults(fn=_cmd_list)

    p = sub.add_parser("results", help="download a finished study's tables and data")
    p.add_argument("study_id")
    p.add_argument("--out", required=True, help="folder to write into")
    p.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    _connection_flags(p)
    p.set_defaults(fn=_cmd_results)

    p = sub.add_parser("report", help="download a finished study's report folder")
    p.add_argument("study_id")
    p.add_argument("--out", required=True, help="folder to write the report into")
    _connection_flags(p)
    p.set_defaults(fn=_cmd_report)

    p = sub.add_parser("tenant", help="create a tenant and print its API token (administrators)")
    p.add_argument("name")
    p.add_argument(
        "--store-url", help="study store URL (default: SILICO_STORE_URL, else the local stack's)"
    )
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.add_argument("--max-active-studies", type=int, default=4)
    p.add_argument("--max-humans", type=int, default=20000)
    p.add_argument(
        "--max-backstories",
        type=int,
        default=20000,
        help="backstory generations a study may cost: count x max_attempts (x 10 interview turns)",
    )
    p.set_defaults(fn=_cmd_tenant)

    p = sub.add_parser(
        "library", help="export the shared backstory library (JSON Lines, or .parquet)"
    )
    p.add_argument("out", help="file to write: *.jsonl or *.parquet")
    p.add_argument(
        "--store-url", help="study store URL (default: SILICO_STORE_URL, else the local stack's)"
    )
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.set_defaults(fn=_cmd_library)

    p = sub.add_parser("schema", help="print the JSON Schema of study files")
    p.set_defaults(fn=_cmd_schema)

    p = sub.add_parser("data", help="survey files: inspect one before writing a study, upload them")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser(
        "inspect",
        help="describe every variable of a .sav/.dta/.parquet/.csv and propose traits and items",
    )
    p.add_argument("file", help="survey file: .sav, .dta, .parquet or .csv")
    p.add_argument("--codebook", help="codebook JSON (needed for .csv/.parquet to propose items)")
    p.add_argument("--spec-out", help="write the proposals as a draft study YAML here")
    p.add_argument("--top", type=int, default=3, help="values shown per variable (default 3)")
    p.set_defaults(fn=_cmd_data_inspect)
    p = data_sub.add_parser(
        "upload",
        help="upload a data file or codebook to the installation (your tenant's only); "
        "name it in a spec as dataset://ID",
    )
    p.add_argument("file")
    _connection_flags(p)
    p.set_defaults(fn=_cmd_data_upload)
    p = data_sub.add_parser("list", help="list your uploaded datasets")
    _connection_flags(p)
    p.set_defaults(fn=_cmd_data_list)
    p = data_sub.add_parser("delete", help="delete an uploaded dataset")
    p.add_argument("dataset_id")
    _connection_flags(p)
    p.set_defaults(fn=_cmd_data_delete)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except SilicoError as e:
        print(f"silico: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("silico: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        if os.environ.get("SILICO_DEBUG"):
            raise
        print(f"silico: error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
