"""``python -m services.backstory``: the backstory service (see silico.pipeline.registry)."""

from services.backstory.servicer import BackstoryServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("backstory", lambda c: BackstoryServicer(c.models)))
