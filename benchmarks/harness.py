"""The timing harness every performance benchmark uses (``benchmarks/bench_*.py``).

Rules it enforces, so that each number in ``docs/performance.md`` means the same thing for
every contender (ours and each peer):

* **Own process.** Every run of every contender is a fresh child process (ours too), started
  the same way. The child reports two times: ``fit_s`` (the estimation or the stage itself,
  after imports and after loading the data from disk) and ``process_s`` (from the process's
  start, as the kernel records it, to the end of that work: interpreter start, imports, data
  loading and the fit). Writing the outputs compared for agreement comes after both.
* **Same memory cap.** The parent polls the resident memory of the child and all its
  descendants every 0.25 s and kills the whole process group past ``BENCH_MEM_GIB`` (default
  16 GiB) or past the time cap. Peak memory is the larger of the child's own ``VmHWM`` and the
  polled peak of the process tree (a pool of workers counts). A run stopped by a cap is
  recorded as such, with no time.
* **CPU seconds** come from ``wait4`` (the child and every child process it waited for, all
  threads), so they are comparable where wall time is not (a shared machine).
* **Load.** The 1-, 5- and 15-minute load averages and the kernel's CPU pressure
  (:func:`cpu_pressure`) are recorded before and after each run, and the system share of the
  CPU seconds (``sys_cpu_s``: page faults, memory first touched).
* **Repeated until stable.** :func:`repeat` runs the contenders in alternating order
  (A B C, C B A, A B C, ...) until each has three runs whose ``fit_s`` agree within 10 %
  (largest / smallest <= 1.10), or ``BENCH_MAX_ROUNDS`` (default 8) rounds, or its runs have
  taken ``BENCH_BUDGET_S`` (default 3600 s) in all; the reported value is the median of the
  closest such triple, and whether three agreed is recorded.

Only the standard library is used here: the peers' virtual environments import this module
too (``PYTHONPATH`` is set to this folder for every child).
"""

from __future__ import annotations

import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEM_CAP_GIB = float(os.environ.get("BENCH_MEM_GIB", "16"))
TOLERANCE = 0.10
AGREEING = 3
MAX_ROUNDS = int(os.environ.get("BENCH_MAX_ROUNDS", "8"))
# A contender is not run again once its runs have taken this long in all (a slow peer on a busy
# machine: one complete run rather than a stopped one).
BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", "3600"))
POLL_S = 0.25


# ---------------------------------------------------------------------------------------
# Child side (inside a contender's process)
# ---------------------------------------------------------------------------------------


def process_seconds() -> float:
    """Seconds since this process started (the kernel's start time, so interpreter start counts)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stat = Path("/proc/self/stat").read_text()
    start = int(stat.rsplit(")", 1)[1].split()[19]) / ticks  # field 22: starttime
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - start


def cpu_pressure() -> float | None:
    """The kernel's CPU pressure (``/proc/pressure/cpu``, "some" over the last 10 s, in %): the share of
    time runnable tasks waited for a CPU. On a virtual machine it also shows contention the load
    average does not (a host busy elsewhere, first touches of fresh memory)."""
    try:
        return float(Path("/proc/pressure/cpu").read_text().split()[1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def own_peak_rss_gib() -> float:
    """``VmHWM`` of this process (``ru_maxrss`` would carry the parent's peak over fork and exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


class Timer:
    """Wall and CPU seconds of a block: ``with Timer() as t: ...``; then ``t.wall``, ``t.cpu``."""

    def __enter__(self) -> "Timer":
        self._w, self._c = time.perf_counter(), cpu_seconds()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._w, cpu_seconds() - self._c

    def elapsed(self) -> float:
        """Wall seconds since the block started (inside it)."""
        return time.perf_counter() - self._w


def finish(out: dict) -> None:
    """Write a contender's result (``fit_s`` and whatever it measured) where the parent reads it.

    Adds ``process_s`` (process start to now), ``child_cpu_s`` and ``own_peak_rss_gib``. Call it
    as soon as the timed work is done; outputs for the agreement check are written after it.
    """
    out = {**out, "process_s": process_seconds(), "child_cpu_s": cpu_seconds(), "own_peak_rss_gib": own_peak_rss_gib()}
    path = Path(os.environ["BENCH_RESULT"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, default=float))
    os.replace(tmp, path)


def progress(**info) -> None:
    """Record how far a long run has got (kept in the result if a cap stops it)."""
    output_path("progress.json").write_text(json.dumps(info, default=float))


def output_path(name: str) -> Path:
    """Where a child writes a larger output (e.g. a unit table) for the parent's agreement check."""
    return Path(os.environ["BENCH_OUTDIR"]) / name


# ---------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss_gib(root: int) -> float:
    """Resident memory of ``root`` and all its descendants (one pass over /proc/*/stat)."""
    parent, rss = {}, {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(d)
        parent[pid] = int(fields[1])  # field 4: ppid
        rss[pid] = int(fields[21])  # field 24: resident pages
    children: dict[int, list[int]] = {}
    for p, pp in parent.items():
        children.setdefault(pp, []).append(p)
    total, todo, seen = 0, [root], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += rss.get(p, 0)
        todo.extend(children.get(p, ()))
    return total * _PAGE / 2**30


def _die_with_parent() -> None:
    """In the child before exec: the kernel kills it when the benchmark process dies (Linux)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run(cmd: list[str], *, cap_s: float, mem_gib: float = MEM_CAP_GIB, env: dict | None = None,
        cwd: Path = ROOT) -> dict:
    """Run one contender process under the caps; its result merged with what the parent measured.

    Returns ``status`` ("ok", "time cap", "memory cap" or "failed"), ``wall_s`` (spawn to exit, as
    seen by the parent), ``cpu_s`` (``wait4``), ``peak_rss_gib``, ``load_before``/``load_after``,
    and on success the child's fields (``fit_s``, ``process_s``, ...). ``outdir`` holds files the
    child wrote with :func:`output_path` (the caller removes it).
    """
    outdir = Path(tempfile.mkdtemp(prefix="bench_", dir=os.environ.get("BENCH_TMP")))
    result = outdir / "result.json"
    child_env = {**os.environ, **(env or {}), "BENCH_RESULT": str(result), "BENCH_OUTDIR": str(outdir),
                 "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    load_before, pressure_before = os.getloadavg(), cpu_pressure()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=cwd, env=child_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True, start_new_session=True, preexec_fn=_die_with_parent)
    peak, status, ru = 0.0, None, None
    err_lines: list[str] = []
    # stderr is drained by a thread so that a chatty child cannot block on a full pipe
    import threading

    def drain() -> None:
        for line in p.stderr:
            err_lines.append(line)
            del err_lines[:-40]

    th = threading.Thread(target=drain, daemon=True)
    th.start()
    while True:
        pid, code, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            p.returncode = os.waitstatus_to_exitcode(code)
            break
        peak = max(peak, _tree_rss_gib(p.pid))
        if time.perf_counter() - t0 > cap_s:
            status = "time cap"
        elif peak > mem_gib:
            status = "memory cap"
        if status:
            os.killpg(p.pid, signal.SIGKILL)
            _, code, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(code)
            break
        time.sleep(POLL_S)
    wall = time.perf_counter() - t0
    th.join(timeout=5)
    out: dict = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "sys_cpu_s": ru.ru_stime,
                 "load_before": load_before,
                 "load_after": os.getloadavg(), "cpu_pressure_before": pressure_before,
                 "cpu_pressure_after": cpu_pressure(), "polled_peak_rss_gib": round(peak, 3), "outdir": str(outdir)}
    if status:
        out.update(status=status, cap=f"{cap_s:g} s" if status == "time cap" else f"{mem_gib:g} GiB")
        prog = outdir / "progress.json"  # how far a stopped run got (see progress())
        if prog.exists():
            out["progress"] = json.loads(prog.read_text())
        return out
    if p.returncode != 0 or not result.exists():
        tail = "".join(err_lines).strip().splitlines()[-1:] or [f"exit status {p.returncode}"]
        out.update(status="failed", error=tail[0][:400])
        return out
    child = json.loads(result.read_text())
    out.update(child, status="ok")
    out["peak_rss_gib"] = max(child.get("own_peak_rss_gib", 0.0), peak)
    return out


def closest_triple(values: list[float], k: int = AGREEING) -> tuple[list[int], float] | None:
    """Indexes of the ``k`` values with the smallest largest/smallest ratio, and that ratio."""
    if len(values) < k:
        return None
    best = None
    for idx in itertools.combinations(range(len(values)), k):
        v = [values[i] for i in idx]
        r = max(v) / min(v) if min(v) > 0 else float("inf")
        if best is None or r < best[1]:
            best = (list(idx), r)
    return best


def summarise(runs: list[dict], key: str = "fit_s") -> dict:
    """The reported numbers of one contender: medians over its closest agreeing triple."""
    ok = [r for r in runs if r.get("status") == "ok"]
    s: dict = {"runs": len(runs), "ok_runs": len(ok)}
    if not ok:
        s["status"] = runs[-1].get("status") if runs else "not run"
        for f in ("cap", "error", "wall_s"):
            if runs and f in runs[-1]:
                s[f] = runs[-1][f]
        return s
    best = closest_triple([r[key] for r in ok])
    use = [ok[i] for i in best[0]] if best else ok
    s["status"] = "ok"
    s["stable"] = bool(best and best[1] - 1 <= TOLERANCE)
    s["spread"] = round(best[1] - 1, 4) if best else None
    s["used_runs"] = [runs.index(r) for r in use]

    def med(f: str) -> float | None:
        v = sorted(r[f] for r in use if r.get(f) is not None)
        return v[len(v) // 2] if v else None

    for f in ("fit_s", "fit_cpu_s", "process_s", "wall_s", "cpu_s", "sys_cpu_s", "peak_rss_gib"):
        s[f] = med(f)
    s["load_before"] = [r["load_before"][0] for r in use]
    s["load_after"] = [r["load_after"][0] for r in use]
    s["cpu_pressure"] = [p for r in use for p in (r.get("cpu_pressure_before"), r.get("cpu_pressure_after"))
                         if p is not None]
    return s


def repeat(contenders: dict[str, Callable[[], dict]], key: str = "fit_s", max_rounds: int = MAX_ROUNDS,
           log: Callable[[str], None] = lambda m: print(m, flush=True)) -> dict[str, dict]:
    """Run the contenders in alternating order until each has three runs agreeing within 10 %.

    ``contenders`` maps a name to a function doing one run (:func:`run`). A contender whose run
    is stopped by a cap or fails is not run again. Returns ``{name: {"runs": [...],
    "summary": summarise(runs)}}``.
    """
    names = list(contenders)
    runs: dict[str, list[dict]] = {n: [] for n in names}
    done: set[str] = set()
    for rnd in range(max_rounds):
        order = names if rnd % 2 == 0 else names[::-1]
        for n in order:
            if n in done:
                continue
            r = contenders[n]()
            runs[n].append(r)
            t = r.get(key)
            log(f"  round {rnd + 1} {n}: {r['status']}"
                + (f" fit {t:.2f} s, process {r.get('process_s', float('nan')):.2f} s, CPU {r['cpu_s']:.1f} s, "
                   f"peak {r.get('peak_rss_gib', float('nan')):.2f} GiB" if t is not None else f" ({r.get('cap') or r.get('error', '')})")
                + f", load {r['load_before'][0]:.1f}->{r['load_after'][0]:.1f}")
            if r["status"] != "ok":
                done.add(n)
                continue
            best = closest_triple([x[key] for x in runs[n] if x.get("status") == "ok"])
            if best and best[1] - 1 <= TOLERANCE:
                done.add(n)
            elif sum(x["wall_s"] for x in runs[n]) > BUDGET_S:
                done.add(n)
                log(f"  {n}: not run again (its runs took more than {BUDGET_S:g} s)")
        if done >= set(names):
            break
    return {n: {"runs": runs[n], "summary": summarise(runs[n], key)} for n in names}


def python_versions(python: str | Path, packages: list[str]) -> dict[str, str | None]:
    """Installed versions of ``packages`` in the environment of ``python`` (None: not installed)."""
    code = ("import json, sys, importlib.metadata as m\n"
            "out = {'python': sys.version.split()[0]}\n"
            "for p in sys.argv[1:]:\n"
            "    try: out[p] = m.version(p)\n"
            "    except m.PackageNotFoundError: out[p] = None\n"
            "print(json.dumps(out))")
    p = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True)
    return json.loads(p.stdout) if p.returncode == 0 else {"error": p.stderr.strip()[-200:]}


def machine() -> dict:
    """What the run was on (2 cores, shared): CPU count and model, memory, load at the start."""
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), None)
    mem = next((int(ln.split()[1]) / 2**20 for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemTotal:")), None)
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True)
    return {"cpus": os.cpu_count(), "cpu_model": model, "commit": git.stdout.strip() or None, "budget_s": BUDGET_S, "mem_gib": round(mem, 1) if mem else None,
            "load_at_start": os.getloadavg(), "mem_cap_gib": MEM_CAP_GIB, "tolerance": TOLERANCE,
            "max_rounds": MAX_ROUNDS, "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_json(path: Path, data: dict) -> None:
    """Atomic JSON write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def python_of(venv: str) -> Path:
    """The interpreter of a peer venv ``benchmarks/.peers-<venv>`` (``"main"``: the project's own)."""
    return Path(sys.executable) if venv == "main" else HERE / f".peers-{venv}" / "bin" / "python"


def ensure_venv(name: str) -> Path:
    """``benchmarks/.peers-<name>`` synced to ``requirements-peers-<name>.txt``; its interpreter.

    Created on first use and synced again whenever the requirements file changed (the file's
    text is kept in the venv). Bytecode is compiled at install, as ``scripts/setup`` does for the
    project's own venv, so that no contender compiles its libraries from source in every process.
    """
    req = HERE / f"requirements-peers-{name}.txt"
    venv = HERE / f".peers-{name}"
    py = venv / "bin" / "python"
    stamp = venv / ".requirements-synced"
    if py.exists() and stamp.exists() and stamp.read_text() == req.read_text():
        return py
    base = os.environ.get("PYTHON", "python3")
    if not py.exists():
        subprocess.run([base, "-m", "uv", "venv", "-q", "--python", base, str(venv)], check=True)
    subprocess.run([base, "-m", "uv", "pip", "sync", "-q", "--compile-bytecode", "--python", str(py), str(req)],
                   check=True)
    stamp.write_text(req.read_text())
    return py
