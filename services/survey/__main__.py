"""``python -m services.survey``: the survey service (see silico.pipeline.registry)."""

from services.survey.servicer import SurveyServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("survey", lambda c: SurveyServicer(c.models)))
