"""``python -m services.study``: the study service (see silico.pipeline.registry)."""

from services.study.servicer import StudyServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("study", lambda c: StudyServicer(c.studies)))
