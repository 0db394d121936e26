"""Deterministic seeds and individual responses drawn from answer distributions."""

from __future__ import annotations

import hashlib

import numpy as np

from silico.core.errors import ValidationError


def derive_seed(*keys: object) -> int:
    """A 63-bit seed from any keys (study seed, stage, persona, attempt...).

    The same keys give the same seed on every machine and in every process, so
    each unit of work can be redone in isolation with identical randomness.

    >>> derive_seed(1, "backstory", 0) == derive_seed(1, "backstory", 0)
    True
    >>> derive_seed(1, "backstory", 0) != derive_seed(1, "backstory", 1)
    True
    """
    h = hashlib.sha256("\x1f".join(repr(k) for k in keys).encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1


def draw_responses(dists: np.ndarray, ks: np.ndarray, seed: int) -> np.ndarray:
    """Draw one ordinal response per row and item from answer distributions.

    Parameters
    ----------
    dists : ndarray, shape (n, p, K_max)
        Distribution per respondent and item over positions 1..K_j (entries
        beyond K_j are ignored); a row of NaN gives a missing response.
    ks : ndarray of int, shape (p,)
    seed : int

    Returns
    -------
    ndarray, shape (n, p)
        Positions 1..K_j, NaN where the distribution was missing.

    Examples
    --------
    >>> d = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    >>> draw_responses(d, np.array([2]), 0).tolist()
    [[2.0], [1.0]]
    """
    d = np.asarray(dists, dtype=float)
    if d.ndim != 3 or d.shape[1] != len(ks):
        raise ValidationError("dists", f"expected (n, {len(ks)}, K), got {d.shape}")
    u = np.random.default_rng(seed).random(d.shape[:2])
    out = np.full(d.shape[:2], np.nan)
    for j, k in enumerate(np.asarray(ks, dtype=int)):
        p = d[:, j, :k]
        ok = np.all(np.isfinite(p), axis=1) & (p.sum(axis=1) > 0)
        cdf = np.cumsum(p[ok] / p[ok].sum(axis=1, keepdims=True), axis=1)
        out[ok, j] = 1 + np.minimum((cdf < u[ok, j, None]).sum(axis=1), k - 1)
    return out
