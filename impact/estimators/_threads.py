"""BLAS on one thread for estimators whose matrices are small.

On a small shared machine the BLAS worker threads of many tiny products (a few dozen rows)
spin against each other and against the other processes: the honest bounds of a 36-period
event study took 26.6 CPU-s with the default threads and 3.0 CPU-s on one thread, with the
same digits.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def blas_single_thread(fn: F) -> F:
    """Run ``fn`` with the BLAS thread pools limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
