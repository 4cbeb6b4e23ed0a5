"""Random draws keyed by person, so a bigger toy release extends a smaller one (prefix stability).

A real data release is a superset of the one before: the same persons with the same genomes and
records, plus more persons. The toy generator gets that property by drawing nothing from a
stream shared by all persons: every person's values come from a counter-based hash of
(seed, stream, person index, column) (SplitMix64, Steele et al. 2014, as in Java's
SplittableRandom), so person i's draws do not depend on how many persons there are.
``PersonRng`` offers the few numpy Generator methods the OMOP and ancestry code calls, each
returning one value per person (or a (persons, k) array); ``uniforms`` hashes arbitrary row keys
(e.g. a drug fill's person and rank).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser of x + golden gamma, elementwise on uint64 (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def uniforms(seed: int, stream: int, keys: Sequence[np.ndarray], k: int, first: int = 0) -> np.ndarray:
    """(rows, k) float64 uniforms in [0, 1), a pure function of (seed, stream, keys[.][row], column).

    keys: integer arrays of one length (e.g. person index, and a fill's rank within the person);
    columns first..first+k-1.
    """
    h = _splitmix(np.full(1, seed, dtype=np.uint64) ^ (np.uint64(stream) << np.uint64(32)))
    for key in keys:
        h = _splitmix(h ^ np.asarray(key).astype(np.uint64))
    h = _splitmix(h[:, None] ^ np.arange(first + 1, first + k + 1, dtype=np.uint64)[None, :])
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


class PersonRng:
    """Per-person draws for persons 0..n-1 (or the subset ``rows``) of one stream.

    Each call takes the next column(s) of every person's own sequence, so a call with size m
    or (m, k) must have m == number of rows; person i gets the same values whatever n is.
    """

    def __init__(self, seed: int, stream: int, n: int, rows: np.ndarray | None = None) -> None:
        self._seed, self._stream = seed, stream
        self._rows = np.arange(n) if rows is None else np.asarray(rows)
        self._column = 0

    def subset(self, rows: np.ndarray) -> PersonRng:
        """A stream of its own (this stream's next column seeds it) for the persons `rows`."""
        self._column += 1
        return PersonRng(self._seed, self._stream * 1000 + self._column, 0, rows)

    def random(self, size: int | tuple[int, ...] | None = None, dtype: type = np.float64) -> np.ndarray:
        shape = (len(self._rows),) if size is None or isinstance(size, int) else tuple(size)
        if shape[0] != len(self._rows):
            raise ValueError(f"per-person draw of {shape} for {len(self._rows)} persons")
        k = int(np.prod(shape[1:], dtype=np.int64))
        u = uniforms(self._seed, self._stream, [self._rows], k, self._column)
        self._column += k
        return u.reshape(shape).astype(dtype)

    def uniform(self, low: float, high: float, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        return low + (high - low) * self.random(size)

    def integers(self, low: int, high: int, size: int | tuple[int, ...] | None = None) -> np.ndarray:
        """Integers in [low, high) (numpy's half-open convention)."""
        return low + np.floor(self.random(size) * (high - low)).astype(np.int64)

    def choice(self, a: int, size: int | None = None, p: Sequence[float] | None = None) -> np.ndarray:
        """Index 0..a-1 per person, with probabilities p (uniform if None)."""
        cum = np.cumsum(np.full(a, 1.0 / a) if p is None else np.asarray(p, dtype=float))
        return np.minimum(np.searchsorted(cum / cum[-1], self.random(size), side="right"), a - 1)
