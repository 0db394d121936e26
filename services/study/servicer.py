"""StudyService: the front door; each RPC maps to :class:`silico.platform.studies.Studies`."""

from __future__ import annotations

from typing import Any

from silico.platform import datasets
from silico.platform.datasets import Datasets
from silico.platform.studies import Studies
from silico.runtime.grpc_server import FailedPreconditionError
from silico.store import Tenant
from silico.v1 import common_pb2, study_pb2, study_pb2_grpc


class StudyServicer(study_pb2_grpc.StudyServiceServicer):
    def __init__(self, studies: Studies) -> None:
        self.studies = studies

    def _tenant(self, context: Any) -> Tenant:
        return self.studies.tenancy.tenant(dict(context.invocation_metadata() or ()))

    def SubmitStudy(self, request: study_pb2.SubmitStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        tenant = self._tenant(context)
        return self.studies.proto(self.studies.submit(request.spec_yaml, tenant))

    def GetStudy(self, request: study_pb2.GetStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        return self.studies.proto(self.studies.get(request.study_id, self._tenant(context)))

    def ListStudies(  # noqa: N802
        self, request: study_pb2.ListStudiesRequest, context: Any
    ) -> study_pb2.ListStudiesResponse:
        found = self.studies.list(self._tenant(context), request.limit)
        return study_pb2.ListStudiesResponse(studies=[self.studies.proto(s) for s in found])

    def CancelStudy(self, request: study_pb2.CancelStudyRequest, context: Any) -> common_pb2.Study:  # noqa: N802
        return self.studies.proto(self.studies.cancel(request.study_id, self._tenant(context)))

    def WatchStudy(self, request: study_pb2.WatchStudyRequest, context: Any) -> Any:  # noqa: N802
        yield from self.studies.watch(request.study_id, self._tenant(context), context.is_active)

    def GetResults(  # noqa: N802
        self, request: study_pb2.GetResultsRequest, context: Any
    ) -> study_pb2.GetResultsResponse:
        return self.studies.results(request.study_id, self._tenant(context))

    def GetReport(self, request: study_pb2.GetReportRequest, context: Any) -> Any:  # noqa: N802
        for chunk in self.studies.report_chunks(request.study_id, self._tenant(context)):
            yield study_pb2.GetReportResponse(chunk=chunk)

    def _datasets(self) -> Datasets:
        if self.studies.datasets is None:
            raise FailedPreconditionError("this installation keeps no uploaded datasets")
        return self.studies.datasets

    def UploadDataset(self, request_iterator: Any, context: Any) -> study_pb2.Dataset:  # noqa: N802
        tenant = self._tenant(context)
        return datasets.to_proto(self._datasets().upload(request_iterator, tenant.id))

    def ListDatasets(  # noqa: N802
        self, request: study_pb2.ListDatasetsRequest, context: Any
    ) -> study_pb2.ListDatasetsResponse:
        found = self._datasets().list(self._tenant(context).id)
        return study_pb2.ListDatasetsResponse(datasets=[datasets.to_proto(d) for d in found])

    def DeleteDataset(  # noqa: N802
        self, request: study_pb2.DeleteDatasetRequest, context: Any
    ) -> study_pb2.Dataset:
        tenant = self._tenant(context)
        return datasets.to_proto(self._datasets().delete(request.dataset_id, tenant.id))
