"""``python -m services.survey``: SurveyService and the survey.requests.v1 worker."""

from __future__ import annotations

from services.survey.servicer import SurveyServicer, handler
from silico.runtime.app import make_lm, open_store, run_service
from silico.v1 import survey_pb2_grpc


def main() -> int:
    lm = {}

    def register(server, settings):  # type: ignore[no-untyped-def]
        lm["c"] = make_lm(settings)
        survey_pb2_grpc.add_SurveyServiceServicer_to_server(SurveyServicer(lm["c"]), server)

    return run_service(
        "survey",
        ["silico.v1.SurveyService"],
        register,
        worker=lambda settings: handler(lm["c"], open_store(settings)),
        stage="survey",
        # A survey unit already sends one prompt per item and order over the same
        # backstory prefix, which the model server batches; two units at a time keep
        # those batches whole and overlap one unit's bookkeeping with the next.
        worker_concurrency=2,
    )


if __name__ == "__main__":
    raise SystemExit(main())
