"""Native thread limits of the small-problem estimators (impact.estimators._threads)."""

from __future__ import annotations

import subprocess
import sys


def test_threads_limit_reaches_openmp_on_the_first_call_of_a_process():
    """In a fresh process (sklearn not yet imported) the limit must hold for sklearn's OpenMP runtime:
    entered before that runtime is loaded, it missed it and the first boosting fits ran on spinning threads."""
    code = (
        "from impact.estimators._threads import threads\n"
        "from threadpoolctl import threadpool_info\n"
        "with threads(1):\n"
        "    import sklearn.ensemble\n"
        "    omp = [p['num_threads'] for p in threadpool_info() if p['user_api'] == 'openmp']\n"
        "print(omp)\n"
        "assert omp and all(n == 1 for n in omp), omp\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_threads_none_leaves_the_defaults():
    from threadpoolctl import threadpool_info

    from impact.estimators._threads import threads

    before = [(p["user_api"], p["num_threads"]) for p in threadpool_info()]
    with threads(None):
        assert [(p["user_api"], p["num_threads"]) for p in threadpool_info()] == before
