"""``python -m services.critic``: the critic service (see silico.pipeline.registry)."""

from services.critic.servicer import CriticServicer
from silico.platform.serve import run_service

if __name__ == "__main__":
    raise SystemExit(run_service("critic", lambda c: CriticServicer(c.models)))
