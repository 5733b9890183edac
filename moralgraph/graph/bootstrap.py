"""Resampling a context's participants: reproducible weights and what the replicates say.

The bootstrap resamples participants, not judgments, because one participant's judgments
are not independent of each other. It is the Poisson bootstrap: in each replicate every
participant gets a weight drawn from Poisson(1) (how many times they are "drawn"), and each
of their judgments counts that many times. Unlike drawing P participants with replacement,
the weights of different participants are independent, which is what lets us draw them
without knowing who else took part.

Each weight is a pure function of (the context's seed, the participant's id, the replicate
number): a counter-based draw (a splitmix64 hash, read as a uniform number, then through
Poisson(1)'s inverse distribution function), not a draw from a stream. So:

- the same judgments, study seed and context always give the same replicates, in any
  order of the input (``same inputs, same snapshot``);
- a context's seed comes from the study's seed and the context's id through
  ``numpy.random.SeedSequence``, so refitting one context leaves the others' replicates
  alone;
- a participant who joins a context changes no one else's weights. Successive rescorings
  of a live study therefore share their random numbers, and a winner probability moves
  because of new judgments, not because the dice were rolled again; the adaptive
  elicitation's stopping rule ("stable over the last rescorings") relies on that.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
# Poisson(1) cumulative probabilities of 0..19 draws; the rest (about 1e-19) is 20.
_POISSON_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])
# Values whose replicate strengths are this close to the replicate's best share the top.
TIE_TOLERANCE = 1e-7


def _id_key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def context_seed(study_seed: int, context_id: str) -> int:
    """Return the 64-bit seed of a context's bootstrap, from the study's seed and its id."""
    if study_seed < 0:
        raise ValueError("study_seed must be a non-negative integer")
    sequence = np.random.SeedSequence([study_seed, _id_key(str(context_id))])
    return int(sequence.generate_state(1, np.uint64)[0])


def participant_keys(participant_ids: Iterable[str]) -> np.ndarray:
    """Return one 64-bit key per participant id (a hash of the id), as uint64."""
    return np.array([_id_key(str(p)) for p in participant_ids], dtype=np.uint64)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _MIX_1
    x = x ^ (x >> np.uint64(27))
    x = x * _MIX_2
    return x ^ (x >> np.uint64(31))


def poisson_weights(seed: int, keys: np.ndarray, resamples: int) -> np.ndarray:
    """Return Poisson(1) weights, shape (resamples, participants), as floats.

    Row b, column p depends only on (seed, keys[p], b).
    """
    keys = np.asarray(keys, dtype=np.uint64)
    rounds = np.arange(1, resamples + 1, dtype=np.uint64)[:, None]
    # Two rounds of mixing so that nearby keys, seeds and replicate numbers decorrelate.
    x = _splitmix(keys[None, :] ^ np.uint64(seed)) + rounds * _GOLDEN
    uniform = (_splitmix(x) >> np.uint64(11)).astype(float) * (1.0 / (1 << 53))
    return np.searchsorted(_POISSON_CDF, uniform, side="right").astype(float)


def winner_shares(strengths: np.ndarray) -> np.ndarray:
    """Return each value's share of replicates where it is on top; a tie splits the credit."""
    if strengths.size == 0:
        return np.zeros(strengths.shape[1:])
    top = strengths >= strengths.max(axis=1, keepdims=True) - TIE_TOLERANCE
    return (top / top.sum(axis=1, keepdims=True)).mean(axis=0)


def direction_shares(wins_a: np.ndarray, wins_b: np.ndarray) -> np.ndarray:
    """Return, per pair, the share of replicates where side a has strictly more votes."""
    return (wins_a > wins_b).mean(axis=0)


def top_two(strengths: np.ndarray) -> list[tuple[int, int, float]]:
    """Return (top, second, share): how often each pair of values is a replicate's top two.

    ``top`` and ``second`` are column indices, ``top`` the one on top in that replicate;
    shares add up to 1. Drawing a pair with these shares is drawing a replicate at random
    and taking its best value and its likeliest challenger: Thompson sampling on the
    bootstrap (moralgraph.graph.adaptive).
    """
    replicates, n = strengths.shape if strengths.ndim == 2 else (0, 0)
    if replicates == 0 or n < 2:
        return []
    order = np.argsort(-strengths, axis=1, kind="stable")[:, :2]
    pairs, counts = np.unique(order, axis=0, return_counts=True)
    return [
        (int(top), int(second), float(count / replicates))
        for (top, second), count in zip(pairs, counts, strict=True)
    ]
