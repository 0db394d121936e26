"""Which model server answers which unit: the study's ``model`` section over the
deployment's model per role, resolved once, the same way on both drivers.

A study is resolved when it starts (the in-process driver) or is submitted
(the study service), so its stored spec names the server and served model
of every role; the orchestrator puts the route on each ``WorkItem`` and the
worker calls that model. A worker never routes to a server its deployment
does not allow: a study cannot point the cluster's workers at an arbitrary
URL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from silico.core.errors import ValidationError
from silico.pipeline.registry import BY_NAME, ROLE_NAMES
from silico.pipeline.spec import ModelRoute, ModelSpec, StudySpec
from silico.pipeline.work import Models

#: Clients a worker keeps, one per (server, model, revision): a deployment has a few.
MAX_CLIENTS = 32


def resolve(spec: StudySpec, defaults: Mapping[str, ModelRoute]) -> StudySpec:
    """``spec`` with every role's route written out: its own, else the deployment's.

    ``defaults`` holds the deployment's route per role (base_url and name)."""
    roles: dict[str, ModelRoute] = {}
    for role in ROLE_NAMES:
        own, dep = spec.model.route(role), defaults.get(role, ModelRoute())
        url = own.base_url or dep.base_url
        # A served name belongs to its server: naming another server means naming its model.
        name = own.name or (dep.name if own.base_url in (None, dep.base_url) else None)
        if not url or not name:
            raise ValidationError(
                f"model.roles.{role}",
                "no model server for this role: give model.base_url and model.name "
                "(or start the deployment with one)",
            )
        roles[role] = ModelRoute(base_url=url, name=name)
    model = spec.model.model_copy(update={"roles": roles})
    return spec.model_copy(update={"model": model})


def stage_routes(model: ModelSpec, stage: str) -> tuple[ModelRoute, ModelRoute | None]:
    """The route of a stage's model and, for backstories (whose interview answers
    are reviewed inside the unit), the critic's."""
    route = model.route(BY_NAME[stage].role)
    return route, (model.route("critic") if stage == "backstory" else None)


def check_allowed(model: ModelSpec, allowed: AllowedServers) -> None:
    """Refuse a study whose routes name a server the deployment does not allow."""
    for role in ROLE_NAMES:
        url = model.route(role).base_url
        if url and not allowed(url):
            raise ValidationError(
                "model.base_url" if not model.roles.get(role) else f"model.roles.{role}.base_url",  # type: ignore[call-overload]
                f"{url} is not a model server this deployment allows "
                "(its own, or one listed in SILICO_MODEL_URLS)",
            )


def resolver(
    defaults: Mapping[str, ModelRoute], allowed: AllowedServers | None = None
) -> Callable[[StudySpec], StudySpec]:
    """How a deployment fills in a study's routes: :func:`resolve`, then refuse a
    server it does not allow (a ``ValidationError`` naming the field)."""

    def fill(spec: StudySpec) -> StudySpec:
        if allowed is not None:
            check_allowed(spec.model, allowed)  # the fields as the study wrote them
        return resolve(spec, defaults)

    return fill


@dataclass(frozen=True)
class AllowedServers:
    """The model servers a deployment's units may call: its own per role and the
    ones its operator lists (``"*"``: any, for a one-user machine)."""

    urls: frozenset[str]
    any: bool = False

    @classmethod
    def of(cls, urls: Iterable[str]) -> AllowedServers:
        clean = {u.strip().rstrip("/") for u in urls if u and u.strip()}
        return cls(frozenset(clean - {"*"}), "*" in clean)

    def __call__(self, url: str) -> bool:
        return self.any or url.rstrip("/") in self.urls


class Router:
    """One client per (server, served model, revision), shared by every unit.

    Both drivers ask it for a unit's :class:`Models`; an empty route falls back
    to ``default`` (the worker's own model, or the in-process driver's).
    """

    def __init__(
        self,
        make_client: Callable[[str, str, str], Any],
        default: ModelRoute,
        critic_default: ModelRoute | None = None,
        allowed: AllowedServers | None = None,
    ) -> None:
        self._make = make_client
        self.default = default
        self.critic_default = critic_default or default
        self.allowed = allowed
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, route: ModelRoute | None, revision: str = "", critic: bool = False) -> Any:
        fallback = self.critic_default if critic else self.default
        url = (route.base_url if route and route.base_url else None) or fallback.base_url
        name = (route.name if route and route.name else None) or fallback.name
        if not url or not name:
            raise ValidationError("model", "no model server configured for this unit")
        if self.allowed is not None and not self.allowed(url):
            raise ValidationError(
                "model.base_url", f"{url} is not a model server this deployment allows"
            )
        key = (url.rstrip("/"), name, revision)
        with self._lock:
            c = self._clients.get(key)
            if c is None:
                if len(self._clients) >= MAX_CLIENTS:
                    # Forgotten, not closed: units may still be calling it (its
                    # connections close when the last of them lets go).
                    self._clients.pop(next(iter(self._clients)))
                c = self._clients[key] = self._make(*key)
            return c

    def models(
        self,
        route: ModelRoute | None,
        critic: ModelRoute | None = None,
        revision: str = "",
    ) -> Models:
        lm = self.client(route, revision)
        return Models(lm, self.client(critic, revision, critic=True) if critic else None)

    def for_stage(self, model: ModelSpec, stage: str) -> Models:
        route, critic = stage_routes(model, stage)
        return self.models(route, critic, model.revision)

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()
