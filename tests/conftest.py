"""Shared fixtures: where the real survey data live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CCES_DIR = REPO / "data" / "cces_2018_sample"
GSS_DIR = SHARED_DATA / "gss_2016_2018"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20241122)


@pytest.fixture(scope="session")
def gss_dir() -> Path:
    if not (GSS_DIR / "gss_2016_2018.csv").exists():
        pytest.skip(f"GSS data not found at {GSS_DIR} (it is not redistributed with the repo)")
    return GSS_DIR


@pytest.fixture(scope="session")
def cces_dir() -> Path:
    return CCES_DIR
