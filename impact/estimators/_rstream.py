"""R's default random numbers, so that simulated critical values reproduce ``HonestDiD``.

``HonestDiD`` draws two simulated quantities with ``set.seed(seed)`` (default 0) before each
use: the quantile of the folded normal in the fixed-length confidence interval (``rnorm``,
10^6 draws) and the least-favourable critical value of the hybrid tests
(``mvtnorm::rmvnorm``, 1000 draws). Reproducing R's stream makes our bounds equal the
reference implementation's to its printed digits instead of differing by Monte Carlo error.

R's defaults: Mersenne-Twister seeded by ``set.seed`` through a linear congruential
scrambler, normal deviates by inversion with 2^27 resolution (``unif_rand`` twice),
``rmvnorm(method="eigen")`` multiplying row-filled standard normals by the symmetric
square root of the covariance.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.special import ndtri

_I2_32M1 = 2.328306437080797e-10  # 1 / (2^32 - 1)
_BIG = 134217728.0  # 2^27


def _mt_state(seed: int) -> dict:
    """MT19937 state after R's ``set.seed(seed)`` (RNG_Init: 50 scrambles, then 625 LCG words)."""
    s = np.uint32(seed & 0xFFFFFFFF)
    a, c = np.uint32(69069), np.uint32(1)
    with np.errstate(over="ignore"):
        for _ in range(50):
            s = a * s + c
        words = np.empty(625, dtype=np.uint32)
        for j in range(625):
            s = a * s + c
            words[j] = s
    # words[0] is R's mti (reset to 624 by FixupSeeds); the key is the next 624 words
    return {"bit_generator": "MT19937", "state": {"key": words[1:].copy(), "pos": 624}}


def runif(seed: int, n: int) -> np.ndarray:
    """``set.seed(seed); runif(n)``."""
    bg = np.random.MT19937()
    bg.state = _mt_state(seed)
    u = bg.random_raw(n).astype(np.float64) * 2.3283064365386963e-10
    u[u <= 0.0] = 0.5 * _I2_32M1
    u[1.0 - u <= 0.0] = 1.0 - 0.5 * _I2_32M1
    return u


@lru_cache(maxsize=8)
def rnorm(seed: int, n: int) -> np.ndarray:
    """``set.seed(seed); rnorm(n)`` (inversion: two uniforms per deviate). Cached, read-only."""
    u = runif(seed, 2 * n).reshape(n, 2)
    out = ndtri((np.floor(_BIG * u[:, 0]) + u[:, 1]) / _BIG)
    out.flags.writeable = False
    return out


def rmvnorm(seed: int, n: int, sigma: np.ndarray) -> np.ndarray:
    """``set.seed(seed); mvtnorm::rmvnorm(n, sigma = sigma)`` (method ``"eigen"``)."""
    sigma = np.asarray(sigma, dtype=float)
    d = sigma.shape[0]
    vals, vecs = np.linalg.eigh(sigma)
    root = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T  # symmetric square root, as R's eigen method
    z = rnorm(seed, n * d).reshape(n, d)  # matrix(rnorm(n * d), nrow = n, byrow = TRUE)
    return z @ root


@lru_cache(maxsize=4)
def _sorted_rnorm(seed: int, n: int) -> np.ndarray:
    out = np.sort(rnorm(seed, n))
    out.flags.writeable = False
    return out


def _kth_abs_shifted(z: np.ndarray, mu: float, k: int) -> float:
    """k-th smallest (0-based) of ``|z + mu|`` for sorted ``z``: the union of two sorted runs
    (``z + mu`` for ``z >= -mu`` and ``-(z + mu)`` for ``z < -mu``, read backwards)."""
    split = int(np.searchsorted(z, -mu, side="left"))
    na, nb = len(z) - split, split

    def a(i: int) -> float:  # ascending: z[split + i] + mu
        return z[split + i] + mu

    def b(i: int) -> float:  # ascending: -(z[split - 1 - i] + mu)
        return -(z[split - 1 - i] + mu)

    lo, hi = max(0, k + 1 - nb), min(k + 1, na)  # i = how many of the k + 1 smallest come from run a
    while True:
        i = (lo + hi) // 2
        j = k + 1 - i
        if i > 0 and j < nb and a(i - 1) > b(j):
            hi = i - 1
        elif j > 0 and i < na and b(j - 1) > a(i):
            lo = i + 1
        else:
            break
    cands = ([a(i - 1)] if i > 0 else []) + ([b(j - 1)] if j > 0 else [])
    return max(cands)


def qfoldednormal(p: float, mu: float, seed: int = 0, n: int = 10**6) -> float:
    """``HonestDiD``'s simulated ``p``-quantile of ``|Z + mu|``: ``set.seed(seed)``, ``n`` draws of
    ``rnorm``, ``quantile(abs(draws + mu), p)`` (type 7), without forming the shifted vector."""
    z = _sorted_rnorm(seed, n)
    h = (n - 1) * p
    lo = int(np.floor(h))
    x0 = _kth_abs_shifted(z, mu, lo)
    if lo + 1 >= n or h == lo:
        return x0
    x1 = _kth_abs_shifted(z, mu, lo + 1)
    return x0 + (h - lo) * (x1 - x0)


class RStream:
    """R's uniform stream after ``set.seed(seed)``, consumed in order (for ``sample``).

    ``sample(n)`` and ``sample(n, replace=True)`` reproduce R (>= 3.6, default "Rejection"
    sampling): permutations by R's swap-with-last algorithm, indices from ``R_unif_index``
    (16-bit chunks of ``unif_rand`` with rejection above ``n``). Indices are 0-based.
    """

    def __init__(self, seed: int, block: int = 1 << 16):
        self._bg = np.random.MT19937()
        self._bg.state = _mt_state(seed)
        self._buf = np.empty(0)
        self._pos = 0
        self._block = block

    def unif(self) -> float:
        if self._pos >= len(self._buf):
            u = self._bg.random_raw(self._block).astype(np.float64) * 2.3283064365386963e-10
            u[u <= 0.0] = 0.5 * _I2_32M1
            u[1.0 - u <= 0.0] = 1.0 - 0.5 * _I2_32M1
            self._buf, self._pos = u, 0
        v = self._buf[self._pos]
        self._pos += 1
        return float(v)

    def _unif_index(self, dn: int) -> int:
        if dn <= 0:
            return 0
        bits = int(np.ceil(np.log2(dn)))
        while True:
            v = 0
            for _ in range(0, bits + 1, 16):
                v = 65536 * v + int(np.floor(self.unif() * 65536))
            v &= (1 << bits) - 1
            if v < dn:
                return v

    def sample(self, n: int, replace: bool = False) -> np.ndarray:
        """``sample(n)`` (a permutation) or ``sample(n, replace = TRUE)``, 0-based."""
        if replace:
            return np.array([self._unif_index(n) for _ in range(n)], dtype=np.int64)
        x = list(range(n))
        out = np.empty(n, dtype=np.int64)
        m = n
        for i in range(n):  # a permutation of at most a few hundred units
            j = self._unif_index(m)
            out[i] = x[j]
            m -= 1
            x[j] = x[m]
        return out
