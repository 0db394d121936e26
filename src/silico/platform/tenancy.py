"""Who may call the study API, which data a study may read, and how much it may ask."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from silico.core.errors import QuotaError
from silico.core.prompts import INTERVIEW_QUESTIONS
from silico.runtime.grpc_server import PermissionDeniedError, UnauthenticatedError
from silico.store import Store, Tenant

#: The one tenant of a deployment without auth.
OPEN = Tenant("default", 1 << 30, 1 << 30, 1 << 30)


def backstory_generations(spec: Any) -> int:
    """The most backstory generations a spec can cost: what a tenant's
    ``max_backstories`` limits (a count alone would let ``max_attempts`` or the
    interview's ten turns multiply the model work unseen)."""
    bs = spec.backstories
    turns = len(INTERVIEW_QUESTIONS) if bs.mode == "interview" else 1
    return int(bs.count * bs.max_attempts * turns)


class Tenancy:
    """With ``auth`` on, every call must carry ``authorization: Bearer <token>`` of a
    tenant, and a study may read human data only under ``data_root/<tenant>/`` or a
    ``public_data`` folder."""

    def __init__(
        self,
        store: Store,
        auth: bool = False,
        data_root: str | Path | None = None,
        public_data: Iterable[str | Path] = (),
        datasets_root: str | Path | None = None,
    ) -> None:
        self.store = store
        self.auth = auth
        self.datasets_root = Path(datasets_root).resolve() if datasets_root else None
        self.data_root = Path(data_root).resolve() if data_root else None
        self.public_data = [Path(p).resolve() for p in public_data]

    def tenant(self, metadata: Mapping[str, str]) -> Tenant:
        if not self.auth:
            return OPEN
        header = metadata.get("authorization", "")
        if not header.startswith("Bearer "):
            raise UnauthenticatedError(
                "missing API token: send metadata 'authorization: Bearer <token>' "
                "(silico --token, SILICO_TOKEN or the config file)"
            )
        tenant = self.store.tenant_for_token(header[len("Bearer ") :].strip())
        if tenant is None:
            raise UnauthenticatedError("invalid API token")
        return tenant

    def check_data(self, tenant: Tenant | str, spec: Any) -> None:
        """The spec's data files lie in the tenant's folders, after every symlink is
        followed (a link out of the folder is refused). Checked at submission and
        again when the orchestrator loads the data (a file may have changed since)."""
        if not self.auth:
            return
        tenant_id = tenant if isinstance(tenant, str) else tenant.id
        roots = list(self.public_data)
        if self.data_root is not None:
            roots.append(self.data_root / tenant_id)
        if self.datasets_root is not None:
            roots.append(self.datasets_root / tenant_id)  # what the tenant uploaded
        for field in ("csv", "codebook"):
            value = getattr(spec.data, field, None)
            if not value:
                continue  # e.g. no codebook beside a labelled .sav
            p = Path(value).resolve()
            if not any(p.is_relative_to(r) for r in roots):
                raise PermissionDeniedError(
                    f"data.{field}: {p.name} is outside this tenant's data folders"
                )

    def check_spec(self, tenant: Tenant, spec: Any) -> None:
        """The limits a spec shows by itself, checked before any data is read."""
        work = backstory_generations(spec)
        if work > tenant.max_backstories:
            bs = spec.backstories
            how = f"count {bs.count} x max_attempts {bs.max_attempts}"
            if bs.mode == "interview":
                how += f" x {len(INTERVIEW_QUESTIONS)} interview questions"
            raise QuotaError(
                f"backstories: up to {work} generations ({how}) exceed this tenant's "
                f"limit of {tenant.max_backstories}"
            )
        if self.store.count_active(tenant.id) >= tenant.max_active_studies:
            raise QuotaError(
                f"{tenant.max_active_studies} studies are already queued or running "
                "(this tenant's limit); wait for one to finish or cancel one"
            )

    def check_humans(self, tenant: Tenant, n_humans: int) -> None:
        if n_humans > tenant.max_humans:
            raise QuotaError(
                f"data: {n_humans} respondents exceed this tenant's limit of {tenant.max_humans}"
            )
