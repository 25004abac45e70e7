"""``njit`` for the compiled numerical kernels of the estimators, with a plain-Python fallback.

numba ships with the locked environment (it is a declared dependency); the fallback only keeps
the kernels importable (and slow) where it is missing.
"""

from __future__ import annotations

try:
    from numba import njit
except ImportError:  # pragma: no cover - exercised only without numba

    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

__all__ = ["njit"]
