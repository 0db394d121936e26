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

from silico.core.errors import SilicoError

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
        line = f"{stage:<10} [{bar:<30}] {done:>5}/{total:<5} {elapsed:6.0f}s {eta_s}"
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


def _plan(spec: Any) -> dict[str, Any]:
    from silico.pipeline.runner import load_humans

    humans = load_humans(spec)
    bs = spec.backstories
    traits = spec.traits()
    n_items = len(spec.questionnaire.items)
    orders = len(spec.answers.orders)
    baselines = [c for c in spec.conditioning if c != "anthology"]
    scoring = (
        bs.count * len(traits)
        + bs.count * n_items * orders
        + len(baselines) * humans.n * n_items * orders
    )
    return {
        "study": spec.name,
        "humans": humans.n,
        "backstories": bs.count,
        "backstory_tokens_max": bs.count * bs.max_tokens,
        "traits": traits,
        "items": n_items,
        "conditioning": spec.conditioning,
        "matching": spec.matching.methods,
        "scoring_prompts": scoring,
    }


def _cmd_validate(args: argparse.Namespace) -> int:
    from silico.pipeline.spec import load_spec

    spec = load_spec(args.spec, args.data_dir)
    plan = _plan(spec)
    print(f"{args.spec}: valid")
    for k, v in plan.items():
        print(f"  {k:<22} {v}")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from silico.llm import CompletionsClient, ResponseCache
    from silico.local.procs import start_model_server
    from silico.pipeline.runner import run_study
    from silico.pipeline.spec import load_spec
    from silico.report import write_report
    from silico.report._tables import headline

    spec = load_spec(args.spec, args.data_dir)
    out = Path(args.out or f"reports/{spec.name}")
    state = Path(args.state_dir)
    server = None
    base_url = args.model_url or spec.model.base_url
    t0 = time.monotonic()
    try:
        if base_url is None:
            print(
                "starting the embedded model server (first start converts the GGUF weights once)...",
                file=sys.stderr,
            )
            server = start_model_server(state / "logs", threads=args.threads)
            base_url = server.base_url
            print(f"model server ready at {base_url}", file=sys.stderr)
        cache = None if args.no_cache else ResponseCache(state / "cache" / "responses.sqlite")
        with CompletionsClient(
            base_url,
            spec.model.name,
            timeout=spec.model.timeout_s,
            max_retries=spec.model.max_retries,
            concurrency=spec.model.concurrency,
            cache=cache,
        ) as lm:
            result = run_study(spec, lm, progress=Progress())
            path = write_report(result, out, lm.ledger)
    finally:
        if server is not None:
            server.stop()
    table = headline(result)
    cols = ["method", "wd", "wd_norm", "frobenius", "cbs", "alpha_virtual", "alpha_human"]
    print()
    print(table[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"\nreport: {path / 'report.html'}  (metrics.json, tables/, data/, plots/ beside it)")
    print(f"wall time: {time.monotonic() - t0:.0f}s")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from silico.local.stack import up

    stack = up(
        Path(args.state_dir), model_url=args.model_url, study_port=args.port, threads=args.threads
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


def _study_addr(args: argparse.Namespace) -> str:
    if args.addr:
        return str(args.addr)
    state = Path(args.state_dir) / "stack.json"
    if not state.exists():
        raise SilicoError(
            "no running stack found (start one with `silico up`, or pass --addr HOST:PORT)"
        )
    return str(json.loads(state.read_text())["study"])


def _cmd_submit(args: argparse.Namespace) -> int:
    import grpc
    import yaml

    from silico.pipeline.spec import load_spec
    from silico.v1 import common_pb2, study_pb2, study_pb2_grpc

    spec = load_spec(args.spec, args.data_dir)
    stub = study_pb2_grpc.StudyServiceStub(grpc.insecure_channel(_study_addr(args)))
    try:
        st = stub.SubmitStudy(
            study_pb2.SubmitStudyRequest(spec_yaml=yaml.safe_dump(spec.model_dump(mode="json")))
        )
        print(f"submitted {st.id}")
        if not args.watch:
            return 0
        last = None
        for ev in stub.WatchStudy(study_pb2.WatchStudyRequest(study_id=st.id)):
            prog = "  ".join(f"{p.stage} {p.done}/{p.total}" for p in ev.study.progress)
            line = f"{ev.study.id} {common_pb2.StudyState.Name(ev.study.state)} {prog}"
            if line != last:
                print(line, flush=True)
                last = line
        if ev.study.error:
            raise SilicoError(f"study {st.id} failed: {ev.study.error}")
    except grpc.RpcError as e:
        raise SilicoError(f"{e.code().name}: {e.details()}") from None
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
        help="run the stages in this process (no broker, no services)",
    )
    p.add_argument("--out", help="report folder (default: reports/<study name>)")
    p.add_argument("--data-dir", help="folder holding the data CSV and codebook named in the spec")
    p.add_argument(
        "--model-url",
        help="OpenAI-compatible API root; default: the spec's, else the embedded server",
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
    p.add_argument("--port", type=int, default=50051, help="StudyService port")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument(
        "--foreground", action="store_true", help="stay attached; Ctrl-C stops the stack"
    )
    p.set_defaults(fn=_cmd_up)

    p = sub.add_parser("down", help="stop the local stack")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.set_defaults(fn=_cmd_down)

    p = sub.add_parser("submit", help="submit a study to the running stack")
    p.add_argument("spec")
    p.add_argument("--watch", action="store_true", help="follow its progress until it ends")
    p.add_argument("--data-dir")
    p.add_argument("--addr", help="StudyService host:port (default: the local stack's)")
    p.add_argument("--state-dir", default=str(DEFAULT_STATE))
    p.set_defaults(fn=_cmd_submit)

    p = sub.add_parser("schema", help="print the JSON Schema of study files")
    p.set_defaults(fn=_cmd_schema)
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
