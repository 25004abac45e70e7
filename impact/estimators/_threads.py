"""BLAS and OpenMP on one thread for estimators whose problems are small.

On a small shared machine the BLAS worker threads of many tiny products (a few dozen rows)
spin against each other and against the other processes: the honest bounds of a 36-period
event study took 26.6 CPU-s with the default threads and 3.0 CPU-s on one thread, with the
same digits.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable)


def blas_single_thread(fn: F) -> F:
    """Run ``fn`` with the BLAS thread pools limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def threads(n: int | None) -> Iterator[None]:
    """All native thread pools (BLAS, OpenMP) limited to ``n`` threads; None: the libraries' defaults.

    scikit-learn's OpenMP runtime is loaded first: a limit entered before it is loaded misses it,
    and the first boosting fit of a process then runs on spinning threads (a 20,000-row fit took
    15.5 s instead of 1.4 s on the busy two-core machine).
    """
    if n is None:
        yield
        return
    import sklearn.ensemble  # noqa: F401  (loads the OpenMP runtime)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n):
        yield
