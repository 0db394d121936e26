"""``python -m services.modelserver``: the embedded CPU model server (KServe)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="silico-modelserver", description=__doc__)
    ap.add_argument(
        "--listen-port", type=int, default=int(os.environ.get("MODELSERVER_PORT", "8080"))
    )
    ap.add_argument("--model-name", default=os.environ.get("MODELSERVER_MODEL_NAME"))
    ap.add_argument(
        "--model-dir",
        default=os.environ.get("MODELSERVER_MODEL_DIR"),
        help="transformers folder; default: the SmolLM2 GGUF converted once into the cache",
    )
    ap.add_argument(
        "--prefix-cache-mb",
        type=int,
        default=int(os.environ.get("MODELSERVER_PREFIX_CACHE_MB", "1024")),
    )
    ap.add_argument("--threads", type=int, default=int(os.environ.get("MODELSERVER_THREADS", "0")))
    args = ap.parse_args(argv)
    # kserve parses sys.argv when imported; keep our flags away from it.
    sys.argv = sys.argv[:1]
    logging.basicConfig(
        level=logging.INFO,
        format='{"level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}',
    )

    import torch
    from kserve import ModelServer
    from kserve.model_server import app

    from services.modelserver.engine import (
        DEFAULT_MODEL_NAME,
        Engine,
        convert_gguf,
        default_cache_dir,
    )
    from services.modelserver.server import SmolModel, add_openai_routes

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    name = args.model_name or DEFAULT_MODEL_NAME

    def factory() -> Engine:
        from pathlib import Path

        model_dir = (
            Path(args.model_dir) if args.model_dir else convert_gguf(default_cache_dir(name), name)
        )
        return Engine(model_dir, prefix_cache_bytes=args.prefix_cache_mb * 2**20)

    model = SmolModel(name, factory)
    model.load()
    add_openai_routes(app, model)
    ModelServer(http_port=args.listen_port, enable_grpc=False, workers=1).start([model])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
