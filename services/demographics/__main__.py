"""``python -m services.demographics``: the demographics service (see silico.pipeline.registry)."""

from services.demographics.servicer import DemographicsServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("demographics", lambda c: DemographicsServicer(c.models)))
