"""The Python SDK: ``silico.Client`` over the StudyService gRPC API.

>>> from silico import Client
>>> c = Client()                                  # doctest: +SKIP
>>> study = c.submit("pipelines/studies/cces_2018.yaml")  # doctest: +SKIP
>>> c.wait(study.id)                              # doctest: +SKIP
>>> c.results(study.id).tables["headline"]        # a pandas DataFrame  # doctest: +SKIP

Connection settings come, first found wins, from the arguments, the
environment (``SILICO_ADDR``, ``SILICO_TOKEN``, ``SILICO_TLS_CA``,
``SILICO_TLS_CERT``, ``SILICO_TLS_KEY``), a YAML config file
(``SILICO_CONFIG``, default ``~/.config/silico/config.yaml``, keys ``addr``,
``token``, ``tls_ca``, ``tls_cert``, ``tls_key``), and finally the local
stack's state file (``.silico/stack.json``, written by ``silico up``).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import yaml

from silico.core.errors import SilicoError
from silico.files import atomic_dir
from silico.net import is_loopback
from silico.v1 import common_pb2, study_pb2, study_pb2_grpc

DEFAULT_CONFIG = Path("~/.config/silico/config.yaml")
TERMINAL = ("succeeded", "failed", "cancelled")


class ClientError(SilicoError):
    """An RPC failed; the message is the status code and the server's detail."""

    def __init__(self, code: str, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"{code}: {details}")


@dataclass(frozen=True)
class StudyInfo:
    id: str
    name: str
    state: str
    error: str
    progress: dict[str, tuple[int, int]]
    created: float
    updated: float

    @classmethod
    def from_proto(cls, p: common_pb2.Study) -> StudyInfo:
        state = common_pb2.StudyState.Name(p.state).removeprefix("STUDY_STATE_").lower()
        return cls(
            p.id,
            p.name,
            state,
            p.error,
            {s.stage: (s.done, s.total) for s in p.progress},
            p.created_unix,
            p.updated_unix,
        )

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class DatasetInfo:
    """An uploaded dataset; a spec names it as :attr:`ref`."""

    id: str
    filename: str
    size_bytes: int
    sha256: str
    created_unix: int

    @classmethod
    def from_proto(cls, p: study_pb2.Dataset) -> DatasetInfo:
        return cls(p.id, p.filename, p.size_bytes, p.sha256, p.created_unix)

    @property
    def ref(self) -> str:
        return f"dataset://{self.id}"


@dataclass
class Results:
    """A finished study's numbers: ``metrics`` (metrics.json), ``tables`` (the
    report's tables) and ``data`` (personas, humans, matchings, answers), all
    pandas DataFrames."""

    study: StudyInfo
    metrics: dict[str, Any]
    usage: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    data: dict[str, pd.DataFrame] = field(default_factory=dict)

    def save(self, out: Path | str, fmt: str = "parquet") -> list[Path]:
        """Write every table and data frame as ``fmt`` (``parquet`` or ``csv``)."""
        if fmt not in ("parquet", "csv"):
            raise SilicoError(f"format must be 'parquet' or 'csv', not {fmt!r}")
        out = Path(out)
        written = []
        for group, frames in (("tables", self.tables), ("data", self.data)):
            (out / group).mkdir(parents=True, exist_ok=True)
            for name, df in frames.items():
                p = out / group / f"{name}.{fmt}"
                df.to_parquet(p, index=False) if fmt == "parquet" else df.to_csv(p, index=False)
                written.append(p)
        (out / "metrics.json").write_text(json.dumps(self.metrics, indent=2))
        written.append(out / "metrics.json")
        return written


@dataclass(frozen=True)
class Connection:
    addr: str
    token: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None

    @classmethod
    def resolve(
        cls,
        addr: str | None = None,
        token: str | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        config: Path | str | None = None,
        state_dir: Path | str | None = None,
    ) -> Connection:
        cfg_path = Path(config or os.environ.get("SILICO_CONFIG") or DEFAULT_CONFIG).expanduser()
        cfg: dict[str, Any] = {}
        if cfg_path.is_file():
            try:
                cfg = yaml.safe_load(cfg_path.read_text()) or {}
            except yaml.YAMLError as e:
                raise SilicoError(f"config file {cfg_path} is not valid YAML: {e}") from None
            if not isinstance(cfg, dict):
                raise SilicoError(f"config file {cfg_path} must be a mapping")
        elif config is not None:
            raise SilicoError(f"config file not found: {cfg_path}")

        def pick(arg: str | None, key: str) -> str | None:
            v = arg or os.environ.get(f"SILICO_{key.upper()}") or cfg.get(key)
            return str(v) if v else None

        addr = pick(addr, "addr")
        if addr is None:
            state = Path(state_dir or os.environ.get("SILICO_HOME", ".silico")) / "stack.json"
            if state.is_file():
                addr = str(json.loads(state.read_text())["study"])
        if addr is None:
            raise SilicoError(
                "no StudyService address: pass --addr HOST:PORT, set SILICO_ADDR, "
                "put addr: in the config file, or start a local stack with `silico up`"
            )
        return cls(
            addr,
            pick(token, "token"),
            pick(tls_ca, "tls_ca"),
            pick(tls_cert, "tls_cert"),
            pick(tls_key, "tls_key"),
        )

    def channel(self) -> grpc.Channel:
        opts = [("grpc.max_receive_message_length", 64 << 20)]
        if not self.tls_ca:
            if self.token and not is_loopback(self.addr.rsplit(":", 1)[0]):
                # A bearer token in clear text can be read and replayed by anyone on the way.
                raise SilicoError(
                    f"refusing to send the API token to {self.addr} without TLS: give the "
                    "installation's CA (--tls-ca or SILICO_TLS_CA)"
                )
            return grpc.insecure_channel(self.addr, options=opts)
        try:
            ca = Path(self.tls_ca).read_bytes()
            cert = Path(self.tls_cert).read_bytes() if self.tls_cert else None
            key = Path(self.tls_key).read_bytes() if self.tls_key else None
        except OSError as e:
            raise SilicoError(f"cannot read TLS file: {e}") from None
        creds = grpc.ssl_channel_credentials(ca, key, cert)
        return grpc.secure_channel(self.addr, creds, options=opts)


class Client:
    """A connection to a Silico installation (the StudyService)."""

    def __init__(
        self,
        addr: str | None = None,
        *,
        token: str | None = None,
        tls_ca: str | None = None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        config: Path | str | None = None,
        state_dir: Path | str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.conn = Connection.resolve(addr, token, tls_ca, tls_cert, tls_key, config, state_dir)
        self.timeout = timeout
        self._channel = self.conn.channel()
        self._stub = study_pb2_grpc.StudyServiceStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _md(self) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.conn.token}")] if self.conn.token else []

    def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        try:
            return getattr(self._stub, method)(
                request, timeout=timeout or self.timeout, metadata=self._md()
            )
        except grpc.RpcError as e:
            raise _error(e) from None

    # -- studies -----------------------------------------------------------

    def submit(self, spec: Any, data_dir: Path | str | None = None) -> StudyInfo:
        """Submit a study: a path to a YAML file, a ``StudySpec`` or a dict.

        The spec is validated here first (and data paths resolved against
        ``data_dir``), so a bad file fails before it reaches the server.
        """
        from silico.pipeline.spec import StudySpec, load_spec, parse_spec

        if isinstance(spec, (str, Path)):
            spec = load_spec(spec, data_dir)
        elif isinstance(spec, dict):
            spec = parse_spec(spec)
        if not isinstance(spec, StudySpec):
            raise SilicoError(
                f"cannot submit a {type(spec).__name__}; give a path, dict or StudySpec"
            )
        text = yaml.safe_dump(spec.model_dump(mode="json"))
        return StudyInfo.from_proto(
            self._call("SubmitStudy", study_pb2.SubmitStudyRequest(spec_yaml=text))
        )

    def get(self, study_id: str) -> StudyInfo:
        return StudyInfo.from_proto(
            self._call("GetStudy", study_pb2.GetStudyRequest(study_id=study_id))
        )

    def list(self, limit: int = 100) -> list[StudyInfo]:
        r = self._call("ListStudies", study_pb2.ListStudiesRequest(limit=limit))
        return [StudyInfo.from_proto(s) for s in r.studies]

    def cancel(self, study_id: str) -> StudyInfo:
        return StudyInfo.from_proto(
            self._call("CancelStudy", study_pb2.CancelStudyRequest(study_id=study_id))
        )

    def watch(self, study_id: str, timeout: float | None = None) -> Iterator[StudyInfo]:
        """The study's state each time it changes, until it ends."""
        try:
            for ev in self._stub.WatchStudy(
                study_pb2.WatchStudyRequest(study_id=study_id),
                timeout=timeout,
                metadata=self._md(),
            ):
                yield StudyInfo.from_proto(ev.study)
        except grpc.RpcError as e:
            raise _error(e) from None

    def wait(
        self,
        study_id: str,
        on_progress: Callable[[StudyInfo], None] | None = None,
        timeout: float | None = None,
    ) -> StudyInfo:
        """Block until the study ends; raise :class:`SilicoError` if it failed."""
        last = None
        deadline = None if timeout is None else time.monotonic() + timeout
        while last is None or not last.done:
            left = None if deadline is None else max(1.0, deadline - time.monotonic())
            try:
                for info in self.watch(study_id, timeout=left):
                    last = info
                    if on_progress:
                        on_progress(info)
            except ClientError as e:
                # A dropped stream (e.g. the study service restarted) is resumed.
                if e.code != "UNAVAILABLE" or (deadline and time.monotonic() > deadline):
                    raise
                time.sleep(1)
        if last.state != "succeeded":
            raise SilicoError(f"study {study_id} {last.state}: {last.error or 'no reason given'}")
        return last

    # -- datasets ----------------------------------------------------------

    def upload(self, path: Path | str, chunk_bytes: int = 1 << 20) -> DatasetInfo:
        """Upload a data file (or codebook) for this tenant; a spec then names it as
        ``dataset://<id>`` in ``data.csv`` or ``data.codebook``. The server checks
        the size and SHA-256 before it keeps anything."""
        import hashlib

        p = Path(path)
        if not p.is_file():
            raise SilicoError(f"no such file: {p}")
        digest = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(chunk_bytes), b""):
                digest.update(block)
        size = p.stat().st_size

        def parts() -> Iterator[study_pb2.UploadDatasetRequest]:
            yield study_pb2.UploadDatasetRequest(
                header=study_pb2.DatasetHeader(
                    filename=p.name, size_bytes=size, sha256=digest.hexdigest()
                )
            )
            with p.open("rb") as f:
                for block in iter(lambda: f.read(chunk_bytes), b""):
                    yield study_pb2.UploadDatasetRequest(chunk=block)

        return DatasetInfo.from_proto(
            self._call("UploadDataset", parts(), timeout=self.timeout * 10)
        )

    def datasets(self) -> list[DatasetInfo]:
        r = self._call("ListDatasets", study_pb2.ListDatasetsRequest())
        return [DatasetInfo.from_proto(d) for d in r.datasets]

    def delete_dataset(self, dataset_id: str) -> DatasetInfo:
        r = self._call("DeleteDataset", study_pb2.DeleteDatasetRequest(dataset_id=dataset_id))
        return DatasetInfo.from_proto(r)

    # -- results -----------------------------------------------------------

    def report_archive(self, study_id: str) -> bytes:
        """The report folder as .tar.gz bytes."""
        try:
            return b"".join(
                r.chunk
                for r in self._stub.GetReport(
                    study_pb2.GetReportRequest(study_id=study_id),
                    timeout=self.timeout * 5,
                    metadata=self._md(),
                )
            )
        except grpc.RpcError as e:
            raise _error(e) from None

    def report(self, study_id: str, out: Path | str) -> Path:
        """Download the report folder into ``out``; returns the path of report.html."""
        out = Path(out)
        data = self.report_archive(study_id)
        # Unpacked beside ``out`` and swapped in whole: never a half-written report,
        # never over a folder of the user's own (the archive carries the marker).
        with atomic_dir(out) as tmp, tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")
        return out / "report.html"

    def results(self, study_id: str) -> Results:
        r = self._call("GetResults", study_pb2.GetResultsRequest(study_id=study_id))
        usage = pd.DataFrame(
            [
                {
                    "stage": u.stage,
                    "calls": u.calls,
                    "prompt_tokens": u.prompt_tokens,
                    "cached_tokens": u.cached_tokens,
                    "generated_tokens": u.generated_tokens,
                }
                for u in r.usage
            ]
        )
        res = Results(StudyInfo.from_proto(r.study), json.loads(r.metrics_json), usage)
        with tarfile.open(fileobj=io.BytesIO(self.report_archive(study_id)), mode="r:gz") as tar:
            for m in tar.getmembers():
                p = Path(m.name)
                if not m.isfile() or len(p.parts) < 2:
                    continue
                group, name = p.parts[-2], p.stem
                f = tar.extractfile(m)
                if f is None:
                    continue
                if group == "tables" and p.suffix == ".csv":
                    res.tables[name] = pd.read_csv(io.BytesIO(f.read()))
                elif group == "data" and p.suffix == ".parquet":
                    res.data[name] = pd.read_parquet(io.BytesIO(f.read()))
        return res


def _error(e: grpc.RpcError) -> ClientError:
    code = e.code().name if hasattr(e, "code") and e.code() else "UNKNOWN"
    details = e.details() if hasattr(e, "details") else str(e)
    if code == "UNAVAILABLE":
        details = f"{details} (is the StudyService running and the address right?)"
    return ClientError(code, details or "")
